"""vae_course.models.flows (notebook 13): MADE's autoregressive masks, one IAF step's log-determinant against the
autograd Jacobian, invertibility, and the flow VAE's log q by the change of variables against brute force."""
import pytest
import torch

from vae_course.models import IAFStep, MADE, FlowVAE, made_degree_masks

F64 = torch.float64


def jacobian(fn, z):
    return torch.autograd.functional.jacobian(fn, z)


@pytest.mark.parametrize("reverse", [False, True])
def test_made_outputs_depend_only_on_earlier_coordinates(reverse):
    torch.manual_seed(0)
    d = 5
    degrees = torch.arange(d, 0, -1) if reverse else torch.arange(1, d + 1)
    made = MADE(d, 16, context_dim=3, degrees=degrees).double()
    for p in made.out.parameters():  # the zero start would hide a leak
        torch.nn.init.normal_(p)
    z, h = torch.randn(d, dtype=F64), torch.randn(3, dtype=F64)
    for part in (0, 1):
        jac = jacobian(lambda v: made(v, h)[part], z)  # (D, D): d out_i / d z_j
        allowed = degrees[None, :] < degrees[:, None]  # z_j comes before output i in the order
        assert torch.all(jac[~allowed] == 0)
        assert torch.any(jac[allowed] != 0)  # and the masks do not cut everything


def test_made_masks_are_a_path_only_from_earlier_inputs():
    degrees = torch.tensor([2, 1, 3])
    m1, m2, m3 = made_degree_masks(degrees, 8)
    paths = m3 @ m2 @ m1  # (2D, D): number of paths from input j to output i
    reach = (paths > 0)
    want = (degrees.repeat(2)[:, None] > degrees[None, :])
    assert torch.equal(reach, want)


def test_iaf_log_det_equals_the_autograd_jacobian():
    torch.manual_seed(1)
    step = IAFStep(4, 12, context_dim=2, reverse=True).double()
    for p in step.made.out.parameters():
        torch.nn.init.normal_(p, std=0.5)
    z, h = torch.randn(4, dtype=F64), torch.randn(2, dtype=F64)
    jac = jacobian(lambda v: step(v, h)[0], z)  # (4, 4)
    perm = torch.argsort(step.made.degrees)  # coordinates in the step's order
    ordered = jac[perm][:, perm]
    assert torch.allclose(ordered, torch.tril(ordered))  # triangular in the step's order
    _, log_det = step(z, h)
    assert torch.allclose(log_det, torch.linalg.slogdet(jac)[1], atol=1e-12)
    assert torch.allclose(log_det, torch.log(torch.diagonal(jac)).sum(), atol=1e-12)


def test_iaf_inverse_recovers_z():
    torch.manual_seed(2)
    step = IAFStep(6, 16, context_dim=3).double()
    for p in step.made.out.parameters():
        torch.nn.init.normal_(p, std=0.5)
    z, h = torch.randn(10, 6, dtype=F64), torch.randn(10, 3, dtype=F64)
    z_new, _ = step(z, h)
    assert torch.allclose(step.inverse(z_new, h), z, atol=1e-10)
    assert not torch.allclose(z_new, z)


def test_flow_vae_log_q_is_the_change_of_variables_brute_force():
    """log q(z_T|x) from sample_local equals log N(z_0; mu, sigma^2) - log |det dz_T/dz_0| with the determinant of
    the whole flow's autograd Jacobian, on a small model."""
    torch.manual_seed(3)
    model = FlowVAE(784, 16, 3, n_flows=2, flow_hidden_dim=8, context_dim=2).double()
    for step in model.flows:
        for p in step.made.out.parameters():
            torch.nn.init.normal_(p, std=0.5)
    x = torch.bernoulli(torch.full((1, 784), 0.3, dtype=F64))
    theta = model.local_params(x)  # (1, 8)
    eps = torch.randn(1, 1, 3, dtype=F64)
    z, log_q = model.sample_local(theta, eps)
    mu, logvar, h = theta[0, :3], theta[0, 3:6], theta[0, 6:]
    z0 = mu + torch.exp(0.5 * logvar) * eps[0, 0]
    jac = jacobian(lambda v: model.flow(v, h)[0], z0)  # (3, 3)
    base = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z0).sum()
    assert torch.allclose(log_q[0, 0], base - torch.linalg.slogdet(jac)[1], atol=1e-10)
    assert torch.allclose(z[0, 0], model.flow(z0, h)[0])


def test_no_flow_is_the_gaussian_vae():
    torch.manual_seed(5)
    model = FlowVAE(784, 16, 4, n_flows=0).double()
    x = torch.bernoulli(torch.full((3, 784), 0.2, dtype=F64))
    theta = model.local_params(x)
    assert theta.shape == (3, 8)
    eps = torch.randn(7, 3, 4, dtype=F64)
    z, log_q = model.sample_local(theta, eps)
    q = torch.distributions.Normal(theta[:, :4], torch.exp(0.5 * theta[:, 4:]))
    assert torch.allclose(log_q, q.log_prob(z).sum(-1))


@pytest.mark.parametrize("kwargs, words", [
    ({"n_flows": -1}, "n_flows=-1 must be a whole number"),
    ({"latent_dim": 1, "n_flows": 2}, "needs latent_dim >= 2"),
    ({"hidden_dim": 0}, "hidden_dim=0 must be a positive whole number"),
    ({"activation": "swish"}, "activation='swish' is not known"),
])
def test_bad_config_is_one_sentence(kwargs, words):
    with pytest.raises(ValueError) as err:
        FlowVAE(**kwargs)
    assert words in str(err.value) and str(err.value).count(". ") == 0


def test_bad_images_are_refused_in_one_sentence():
    model = FlowVAE(784, 8, 2, n_flows=1, flow_hidden_dim=4, context_dim=2)
    with pytest.raises(ValueError) as err:
        model.log_weights(torch.rand(2, 5), 3)
    assert "784" in str(err.value)


def test_checkpoint_round_trip(tmp_path):
    """Both notebook 13 models save and load through the course's checkpoints (sized on the meta device first)."""
    from vae_course.models import HierarchicalVAE
    from vae_course.training import load_checkpoint, save_checkpoint

    for model in (FlowVAE(784, 16, 4, n_flows=2, flow_hidden_dim=8, context_dim=3), HierarchicalVAE(784, 16, 4, 2)):
        path = save_checkpoint(model, tmp_path / f"{type(model).__name__}.pt")
        loaded = load_checkpoint(path)
        assert type(loaded) is type(model)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
