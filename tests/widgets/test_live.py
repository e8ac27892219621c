"""Issue 14: the explorer's digit and marker drawn by the page itself (vae_course.views.live).

What the page computes is checked in a real browser (tests/browser/test_explorer_browser.py); here: which models
get a page-side decoder, what the kernel sends the page, the tree, the static twin and the stored widget state.
"""
import ipywidgets as W
import numpy as np
import pytest
import torch
from ipywidgets.embed import dependency_state

from vae_course.models import VAE, ConvVAE
from vae_course.views import LiveLayer, browser_decoder, stored_as_stills
from vae_course.views import as_array
from vae_course.views import latent_explorer


def _children(w):
    stack, out = [w], []
    while stack:
        x = stack.pop()
        out.append(x)
        stack.extend(getattr(x, "children", ()))
    return out


def test_browser_decoder_is_the_mlp_decoder(model):
    w3, b3, w4, b4 = browser_decoder(model)
    assert w3.shape == (400, 2) and b3.shape == (400,) and w4.shape == (784, 400) and b4.shape == (784,)
    z = torch.randn(16, 2)
    with torch.inference_mode():
        want = model.decode(z).reshape(16, 784)
    assert torch.allclose(torch.sigmoid(torch.relu(z @ w3.T + b3) @ w4.T + b4), want, atol=1e-6)


def test_browser_decoder_refuses_other_decoders():
    assert browser_decoder(ConvVAE()) is None

    class Brighter(VAE):  # the same layers, another decoder: refused by value, not by class
        def decode_logits(self, z):
            return super().decode_logits(z) + 1.0

    assert browser_decoder(Brighter()) is None


def test_the_page_gets_weights_that_reproduce_decode(model, data):
    """What the kernel answers to the page's request: four float32 buffers and the shapes, which decode z exactly."""
    ex = latent_explorer(model, *data)
    sent = []
    ex.live.send = lambda content, buffers=None: sent.append((content, buffers))
    ex.live._on_request(ex.live, {"kind": "something else"}, [])
    assert sent == []
    ex.live._on_request(ex.live, {"kind": "weights?", "request": "view-1"}, [])
    (content, buffers), = sent
    assert content == {"kind": "weights", "request": "view-1", "shape": [2, 400, 784]} and ex.live.requests == 1
    latent, hidden, pixels = content["shape"]
    w3, b3, w4, b4 = (np.frombuffer(b, dtype="<f4").astype(np.float64) for b in buffers)
    w3, w4 = w3.reshape(hidden, latent), w4.reshape(pixels, hidden)
    ex.set_coords([1.5, -0.75])
    z = (np.asarray(ex.live.origin) + np.asarray([1.5, -0.75]) @ np.asarray(ex.live.basis))  # what the page does
    p = 1 / (1 + np.exp(-(w4 @ np.maximum(w3 @ z + b3, 0) + b4)))  # (784,)
    assert np.abs(p - ex.shown.reshape(784).double().numpy()).max() < 1e-5  # the kernel's decode(z)


def test_the_page_gets_a_copy_taken_when_the_explorer_is_built(data):
    torch.manual_seed(2)
    m = VAE()
    ex = latent_explorer(m, *data)
    before = [t.clone() for t in ex.live._layers]
    with torch.no_grad():
        m.fc4.bias.add_(1.0)  # training on after the explorer was built
    assert all(torch.equal(a, b) for a, b in zip(before, ex.live._layers))


def test_a_plane_goes_to_the_page(data):
    from vae_course.evaluation import pca_plane

    torch.manual_seed(1)
    big = VAE(latent_dim=6)
    with torch.inference_mode():
        mu, _ = big.encode(data[0].reshape(-1, 784))
    plane = pca_plane(mu, 2)
    ex = latent_explorer(big, *data, plane=plane)
    assert torch.allclose(torch.tensor(ex.live.origin), plane.origin.float())
    assert torch.allclose(torch.tensor(ex.live.basis), plane.basis.float())
    assert len(ex.live.sliders) == 2


def test_the_tree_shows_the_live_layers_and_the_kernel_keeps_drawing(model, data):
    ex = latent_explorer(model, *data)
    tree = _children(ex.widget)
    assert ex.live in tree and ex.live_marker in tree
    assert ex.image not in tree and ex.scatter not in tree  # stand-ins, still drawn by the kernel
    assert ex.live.still is ex.image and ex.live_marker.still is ex.scatter
    assert ex.live.sliders == ex.sliders and ex.live.sample_toggle is ex.sample_toggle
    assert ex.live_marker.layout is ex.scatter.layout  # the same grid cell over the scatter
    before = ex.image.value, ex.scatter.value
    ex.sliders[0].value = 1.0
    assert ex.image.value != before[0] and ex.scatter.value != before[1]


def test_live_false_and_other_models_keep_the_kernel_image(model, data):
    ex = latent_explorer(model, *data, live=False)
    assert ex.live is None and ex.live_marker is None and ex.image in _children(ex.widget)
    conv = latent_explorer(ConvVAE(), *data)
    assert conv.live is None and conv.image in _children(conv.widget)
    with pytest.raises(ValueError, match="live=True needs a decoder the browser can run"):
        latent_explorer(ConvVAE(), *data, live=True)
    with pytest.raises(ValueError, match="live='yes' must be True, False or None"):
        latent_explorer(model, *data, live="yes")
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    with pytest.raises(ValueError, match="a digit layer needs the decoder's weights"):
        LiveLayer(kind="digit", still=W.Image())
    assert not any(isinstance(_instances[i], LiveLayer) for i in set(_instances) - before)  # refused before its comm
    import traitlets

    with pytest.raises(traitlets.TraitError):
        LiveLayer(kind="digits", still=W.Image())


def test_the_static_twin_is_the_same_with_and_without_live(model, data):
    live, kernel = latent_explorer(model, *data), latent_explorer(model, *data, live=False)
    for ex in (live, kernel):
        ex.set_coords([0.75, -1.25])
    assert np.array_equal(as_array(live.snapshot_png()), as_array(kernel.snapshot_png()))


def test_stored_state_holds_the_kernel_pictures(model, data):
    """Saved widget state: each live layer is stored as its still image (under its own id), no anywidget code."""
    ex = latent_explorer(model, *data)
    ex.set_coords([0.5, 0.5])
    state = dependency_state(ex.widget)
    ids = ex.live.model_id, ex.live_marker.model_id
    assert all(state[i]["model_module"] == "anywidget" for i in ids)
    stills = {layer.model_id: dict(state[layer.still.model_id]) for layer in (ex.live, ex.live_marker)}
    assert stored_as_stills(state) == 2
    for i in ids:
        entry, still = state[i], stills[i]
        assert entry["model_name"] == "ImageModel" and "_esm" not in entry["state"]
        assert entry["state"] == still["state"] and entry["buffers"] == still["buffers"]
    # the stills themselves are shown by no other widget: dropped, so no PNG is stored twice
    assert ex.image.model_id not in state and ex.scatter.model_id not in state
    assert ex.scatter.layout.model_id in state  # ... but what the copies refer to stays
    assert stored_as_stills(state) == 0  # nothing left to replace


def test_a_still_that_an_output_shows_is_kept(model, data):
    ex = latent_explorer(model, *data)
    state = dependency_state(ex.widget)
    state.update(dependency_state(ex.image))  # a cell that displayed explorer.image itself
    assert stored_as_stills(state, keep={ex.image.model_id}) == 2
    assert ex.image.model_id in state and ex.scatter.model_id not in state


def _page_formula(layer, coords):
    """What the page computes for a digit layer at these slider values, in float64 (the page's arithmetic)."""
    w3, b3, w4, b4 = (t.double() for t in layer._layers)
    z = torch.tensor(layer.origin, dtype=torch.float64) + torch.tensor(coords, dtype=torch.float64) \
        @ torch.tensor(layer.basis, dtype=torch.float64)
    z_in = torch.cat([z, torch.tensor(layer.extra, dtype=torch.float64)])
    return torch.sigmoid(w4 @ torch.relu(w3 @ z_in + b3) + b4)  # (784,)


def test_the_cvae_explorer_draws_in_the_page_with_the_label_appended(data):
    from vae_course.models import CVAE
    from vae_course.views import cvae_explorer

    torch.manual_seed(3)
    model = CVAE()
    assert browser_decoder(model) is not None
    ex = cvae_explorer(model, *data)
    assert ex.live in _children(ex.widget) and ex.image not in _children(ex.widget)
    assert ex.live_marker in _children(ex.widget) and ex.live.still is ex.image
    ex.label.value = 7
    assert ex.live.extra == [1.0 if c == 7 else 0.0 for c in range(10)]
    for s, v in zip(ex.sliders, (1.25, -0.5)):
        s.value = v
    got = _page_formula(ex.live, [s.value for s in ex.sliders])
    assert (got - ex.current_image().reshape(784).double()).abs().max() < 1e-6
    assert cvae_explorer(model, *data, live=False).live is None


def test_the_interpolation_explorer_draws_the_line_in_the_page(model, data):
    from vae_course.views import interpolation_explorer

    ex = interpolation_explorer(model, *data, start=2, end=9)
    assert ex.live in _children(ex.widget) and ex.image not in _children(ex.widget)
    ex.end.value = 11  # new endpoints: the page's line follows
    ex.t.value = 0.36
    got = _page_formula(ex.live, [ex.t.value])
    with torch.inference_mode():
        want = model.decode(ex.z.unsqueeze(0)).reshape(784).double()
    assert (got - want).abs().max() < 1e-6
    assert interpolation_explorer(model, *data, live=False).live is None


def test_a_layer_whose_sizes_do_not_fit_the_decoder_is_refused(model):
    layers = browser_decoder(model)
    with pytest.raises(ValueError, match="the decoder reads 2 numbers"):
        LiveLayer(layers=layers, still=W.Image(), sliders=[W.FloatSlider()], origin=[0.0, 0.0, 0.0],
                  basis=[[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="one basis row of 2 per slider"):
        LiveLayer(layers=layers, still=W.Image(), sliders=[W.FloatSlider()], origin=[0.0, 0.0], basis=[])
