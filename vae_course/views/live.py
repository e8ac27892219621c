"""The decoder in the browser: the latent explorer's digit and marker drawn by JavaScript, with no kernel round trip.

Used by :class:`vae_course.views.LatentExplorer` (notebook 06) and
``benchmarks/bench_browser_latency.py``.

Why (issue 14): a slider press that goes to the kernel and back (websocket, server, kernel, widget manager, a new
PNG loaded by the page) costs p50 24-32 ms and p95 56-59 ms on 2 cores, most of it outside the kernel; drawn by the
page it takes about 1 ms (``benchmarks/bench_browser_latency.py``, CONTRIBUTING.md). The reference decoder is small: ``sigmoid(fc4(relu(fc3(z))))``, 2 -> 400 -> 784, 315,584
weights. So the page gets the weights once and decodes by itself:

* :class:`LiveLayer` is an ``anywidget`` with a ``<canvas>``. It listens to the explorer's slider models (and to
  its sample toggle) *in the browser*, and on every change it computes ``z = origin + coords @ basis``, the
  decoder's pixel means, and draws them (``kind="digit"``, a Bernoulli sample of every pixel when the toggle is on)
  or the ring where ``z`` sits over the scatter (``kind="marker"``).
* The weights travel once per view, as float32 buffers of a custom message that the page asks for when it first
  shows the layer, so they are never stored in the notebook's widget state. They are a copy taken when the explorer
  is built: train the model further and build a new explorer to see the new decoder in the page.
* The kernel still draws its own ``ipywidgets.Image`` (``still``) on every change: the tests, the static twin
  (:meth:`~vae_course.views.base._View.snapshot`) and the stored widget state read that one. The layer shows it
  until the weights arrive (and keeps it, hidden, as ``img.vae-kernel-image``, so a browser test can compare the
  two decodes). :func:`stored_as_stills` writes each layer into the saved widget state as its ``still``, so exported
  HTML shows the picture as an ordinary image.

:func:`browser_decoder` says whether a model's decoder can run in the page: the course's MLP ``VAE`` can; a
convolutional or conditional decoder cannot, and those explorers keep the kernel's images.
"""
from __future__ import annotations

import anywidget
import ipywidgets as W
import numpy as np
import torch
import traitlets as T

WIDGET_REF = "IPY_MODEL_"

ESM = r"""
const REF = "IPY_MODEL_";

async function resolve(model, ref) {
  return ref ? await model.widget_manager.get_model(ref.slice(REF.length)) : null;
}

function floats(buf) {  // a DataView (or ArrayBuffer) of float32 little-endian -> Float32Array (copied: offsets
  if (buf instanceof ArrayBuffer) return new Float32Array(buf.slice(0));  // need not be aligned)
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function decode(net, z) {  // pixel means sigmoid(W4 relu(W3 z + b3) + b4), (784,)
  const {w3, b3, w4, b4, hidden, latent, pixels} = net;
  const h = new Float64Array(hidden);
  for (let j = 0; j < hidden; j++) {
    let s = b3[j];
    for (let d = 0; d < latent; d++) s += w3[j * latent + d] * z[d];
    h[j] = s > 0 ? s : 0;
  }
  const out = new Float64Array(pixels);
  for (let i = 0; i < pixels; i++) {
    let s = b4[i];
    const row = i * hidden;
    for (let j = 0; j < hidden; j++) s += w4[row + j] * h[j];
    out[i] = 1 / (1 + Math.exp(-s));
  }
  return out;
}

export default {
  async render({ model, el }) {
    const kind = model.get("kind");
    const wrap = document.createElement("div");
    wrap.style.position = "relative";
    const canvas = document.createElement("canvas");
    const still = document.createElement("img");
    still.className = "vae-kernel-image";
    const [w, h] = [model.get("width"), model.get("height")];
    canvas.width = kind === "digit" ? 28 : w;
    canvas.height = kind === "digit" ? 28 : h;
    for (const node of [canvas, still]) {
      node.style.width = w + "px";
      node.style.height = h + "px";
      node.style.display = "block";
    }
    canvas.style.imageRendering = "pixelated";
    canvas.style.display = "none";
    canvas.className = model.get("canvas_class");
    wrap.append(canvas, still);
    el.append(wrap);

    const sliders = await Promise.all(model.get("sliders").map(ref => resolve(model, ref)));
    const toggle = await resolve(model, model.get("sample_toggle"));
    const stillModel = await resolve(model, model.get("still"));
    let url = null;
    const showStill = () => {
      const value = stillModel && stillModel.get("value");
      if (!value) return;
      const bytes = value instanceof DataView ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
                                              : value;
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(new Blob([bytes], {type: "image/png"}));
      still.src = url;
    };
    showStill();
    if (stillModel) stillModel.on("change:value", showStill);

    const ctx = canvas.getContext("2d");
    let net = null;
    let frames = 0;
    const draw = () => {
      const coords = sliders.map(s => s.get("value"));
      if (kind === "digit") {
        if (!net) return;
        const origin = model.get("origin"), basis = model.get("basis");
        const z = origin.map((o, d) => o + coords.reduce((acc, c, k) => acc + c * basis[k][d], 0));
        const p = decode(net, z.concat(model.get("extra")));  // extra: a conditional decoder's one-hot label
        const sample = toggle ? toggle.get("value") : false;
        const img = ctx.createImageData(28, 28);
        for (let i = 0; i < 784; i++) {
          const v = sample ? (Math.random() < p[i] ? 255 : 0) : Math.round(Math.min(1, Math.max(0, p[i])) * 255);
          img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
          img.data[4 * i + 3] = 255;
        }
        ctx.putImageData(img, 0, 0);
      } else {
        const [sx, ox, sy, oy, left, top, right, bottom] = model.get("transform");
        const cx = Math.min(Math.max(ox + sx * coords[0], left), right);
        const cy = Math.min(Math.max(oy + sy * (coords.length > 1 ? coords[1] : 0), top), bottom);
        ctx.clearRect(0, 0, canvas.width, canvas.height);
        for (const [colour, width] of [["#ffffff", 5], ["#000000", 3]]) {
          ctx.beginPath();
          ctx.arc(cx, cy, 5.5, 0, 2 * Math.PI);
          ctx.strokeStyle = colour;
          ctx.lineWidth = width;
          ctx.stroke();
        }
      }
      frames += 1;
      el.dataset.frames = String(frames);
      el.dispatchEvent(new CustomEvent("vae-drawn", {bubbles: true, detail: {at: performance.now(), frames}}));
    };
    const live = () => {
      canvas.style.display = "block";
      still.style.display = "none";
      el.classList.add("vae-live");
      draw();
    };
    for (const s of sliders) s.on("change:value", draw);
    if (toggle) toggle.on("change:value", draw);
    const request = Math.random().toString(36).slice(2);  // this view's request: answers to others are ignored
    const onMessage = (msg, buffers) => {
      if (!msg || msg.kind !== "weights" || msg.request !== request || !buffers || buffers.length !== 4) return;
      const [latent, hidden, pixels] = msg.shape;
      net = {w3: floats(buffers[0]), b3: floats(buffers[1]), w4: floats(buffers[2]), b4: floats(buffers[3]),
             latent, hidden, pixels};
      live();
    };
    model.on("msg:custom", onMessage);
    const traits = "change:origin change:basis change:extra change:transform";
    model.on(traits, draw);
    if (kind === "digit") model.send({kind: "weights?", request});
    else live();
    return () => {
      for (const s of sliders) s.off("change:value", draw);
      if (toggle) toggle.off("change:value", draw);
      if (stillModel) stillModel.off("change:value", showStill);
      model.off("msg:custom", onMessage);
      model.off(traits, draw);
      if (url) URL.revokeObjectURL(url);
    };
  },
};
"""


def browser_decoder(model) -> list[torch.Tensor] | None:
    """``[W3, b3, W4, b4]`` (float32, CPU) when ``model.decode(z)`` is ``sigmoid(W4 relu(W3 z + b3) + b4)``, else None.

    True for the course's MLP ``VAE`` (``fc3``, ``fc4``), and for its conditional ``CVAE``, whose decoder reads
    ``[z, one_hot(y)]`` (the page appends the label's one-hot code, ``LiveLayer.extra``). The check is by value, not
    by class: the weights are used only if this formula reproduces ``model.decode`` on a few codes (and labels), so
    a subclass with another decoder is refused.
    """
    fc3, fc4 = getattr(model, "fc3", None), getattr(model, "fc4", None)
    d = getattr(model, "latent_dim", None)
    classes = int(getattr(model, "num_classes", 0)) if getattr(model, "conditional", False) else 0
    if not (isinstance(fc3, torch.nn.Linear) and isinstance(fc4, torch.nn.Linear) and fc3.bias is not None
            and fc4.bias is not None and fc4.in_features == fc3.out_features and fc4.out_features == 784
            and isinstance(d, int) and fc3.in_features == d + classes):
        return None
    with torch.inference_mode():
        layers = [p.detach().float().cpu().clone() for p in (fc3.weight, fc3.bias, fc4.weight, fc4.bias)]
        z = torch.randn(4, d, generator=torch.Generator().manual_seed(0)) * 2  # (4, D)
        y = torch.arange(4) % max(classes, 1)  # (4,) labels, for a conditional decoder
        dev = fc3.weight.device
        try:
            want = (model.decode(z.to(dev), y.to(dev)) if classes else model.decode(z.to(dev)))
            want = want.reshape(4, 784).float().cpu()
        except Exception:  # noqa: BLE001 - a decoder that needs more than z (the image itself) has no browser twin
            return None
        z_in = torch.cat([z, torch.nn.functional.one_hot(y, classes).float()], 1) if classes else z  # (4, D + C)
        w3, b3, w4, b4 = layers
        got = torch.sigmoid(torch.relu(z_in @ w3.T + b3) @ w4.T + b4)  # (4, 784)
    return layers if torch.allclose(got, want, atol=1e-5) else None


class LiveLayer(anywidget.AnyWidget):
    """A ``<canvas>`` the page draws by itself from the explorer's sliders (see the module docstring).

    ``kind`` is ``"digit"`` (the decoder: ``layers`` = :func:`browser_decoder`'s weights, sent once when the page
    asks) or ``"marker"`` (the ring over the scatter, drawn with ``transform``, ``[sx, ox, sy, oy, left, top, right,
    bottom]`` of :class:`~vae_course.views.ScatterCanvas`). ``still`` is the kernel's ``ipywidgets.Image`` of
    the same thing: shown until the page can draw, and what the static twin and the stored state show.
    """

    _esm = ESM
    kind = T.Enum(("digit", "marker"), default_value="digit").tag(sync=True)
    sliders = T.List(T.Instance(W.FloatSlider)).tag(sync=True, **W.widget_serialization)
    sample_toggle = T.Instance(W.ToggleButton, allow_none=True).tag(sync=True, **W.widget_serialization)
    still = T.Instance(W.Image).tag(sync=True, **W.widget_serialization)
    origin = T.List(T.Float()).tag(sync=True)  # (D,)
    extra = T.List(T.Float()).tag(sync=True)  # appended to z: a conditional decoder's one-hot label (C,)
    basis = T.List(T.List(T.Float())).tag(sync=True)  # (k, D)
    transform = T.List(T.Float()).tag(sync=True)
    width = T.Int(196).tag(sync=True)  # CSS pixels
    height = T.Int(196).tag(sync=True)
    canvas_class = T.Unicode("").tag(sync=True)

    def __init__(self, layers: list[torch.Tensor] | None = None, **kwargs):
        if kwargs.get("kind", "digit") == "digit":  # checked before a comm is opened
            if layers is None:
                raise ValueError("a digit layer needs the decoder's weights: pass layers=browser_decoder(model) "
                                 "(None means this decoder cannot run in the browser; use the kernel's image).")
            n_in, d = layers[0].shape[1], len(kwargs.get("origin", ()))
            basis, extra = kwargs.get("basis", ()), kwargs.get("extra", ())
            if n_in != d + len(extra) or len(basis) != len(kwargs.get("sliders", ())) \
                    or any(len(row) != d for row in basis):
                raise ValueError(f"the decoder reads {n_in} numbers: origin ({d}) and extra ({len(extra)}) must "
                                 f"add up to that, with one basis row of {d} per slider.")
        super().__init__(**kwargs)
        self._layers = None if layers is None else [t.detach().float().cpu().clone() for t in layers]  # a copy
        self.requests = 0  # how many times a page asked for the weights
        self.on_msg(self._on_request)

    def _on_request(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict) or content.get("kind") != "weights?" or self._layers is None:
            return
        self.requests += 1
        w3, _, w4, _ = self._layers
        buffers = [np.ascontiguousarray(t.numpy(), dtype="<f4").tobytes() for t in self._layers]
        self.send({"kind": "weights", "request": content.get("request"),
                   "shape": [w3.shape[1], w3.shape[0], w4.shape[0]]}, buffers=buffers)


def stored_as_stills(state: dict, keep=()) -> int:
    """In a notebook's saved widget state (``{model_id: {"model_name", "state", ...}}``), replace each live layer by
    a copy of its ``still`` image, under the layer's id; returns how many were replaced. A still that no other widget
    refers to (and that is not in ``keep``, the model ids the notebook's outputs display) is then dropped, so that its
    PNG is not stored twice.

    A renderer without the kernel (``jupyter nbconvert --to html``, nbviewer) then shows the picture as a standard
    ``ImageModel`` and needs no anywidget code; JupyterLab with a kernel builds the live layer anew.
    """
    swapped, stills = 0, set()
    for model_id, entry in list(state.items()):
        values = entry.get("state", {}) if isinstance(entry, dict) else {}
        ref = values.get("still")
        anywidget_model = entry.get("model_module") == "anywidget" or "_esm" in values
        if not (anywidget_model and isinstance(ref, str) and ref.startswith(WIDGET_REF)):
            continue
        still = state.get(ref[len(WIDGET_REF):])
        if not isinstance(still, dict) or still.get("model_name") != "ImageModel":
            continue
        state[model_id] = {**still, "state": dict(still["state"])}
        if "buffers" in still:
            state[model_id]["buffers"] = [dict(b) for b in still["buffers"]]
        stills.add(ref[len(WIDGET_REF):])
        swapped += 1
    used = {ref[len(WIDGET_REF):] for entry in state.values() for ref in _refs(entry.get("state", {}))}
    for model_id in stills - used - set(keep):  # a still no other widget shows is now stored twice: keep only the copy
        del state[model_id]
    return swapped


def _refs(value):
    """Every ``IPY_MODEL_...`` reference inside a widget's state (lists and dicts included)."""
    if isinstance(value, str):
        return [value] if value.startswith(WIDGET_REF) else []
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _refs(v)]
    return []
