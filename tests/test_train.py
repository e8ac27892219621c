import math

import pytest
import torch

from vae_course.evaluation import evaluate
from vae_course.models import VAE
from vae_course.objectives import ELBO, ELBOTerms, model_elbo
from vae_course.training import History, TrainingDivergedError, fit


def _model(seed=0, latent=2):
    torch.manual_seed(seed)
    return VAE(latent_dim=latent)


def test_fit_reports_nats_per_image_and_learns(mnist_small):
    train_x, _, test_x, _ = mnist_small
    model = _model()
    before = evaluate(model, test_x)
    hist = fit(model, train_x, test_x, epochs=2, progress=False)
    assert isinstance(hist, History) and hist.epochs == 2 and not hist.interrupted
    for key in ("train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl", "epoch_seconds"):
        assert len(getattr(hist, key)) == 2
    assert hist.train_loss[0] == pytest.approx(hist.train_recon[0] + hist.train_kl[0])
    assert hist.test_loss[-1] < before["loss"] - 100  # from ~543 nats to well under 400
    assert 100 < hist.test_loss[-1] < 450
    assert not model.training


def test_fit_is_deterministic_on_cpu(mnist_small):
    train_x, _, test_x, _ = mnist_small
    h1 = fit(_model(), train_x, test_x, epochs=1, progress=False, seed=3)
    h2 = fit(_model(), train_x, test_x, epochs=1, progress=False, seed=3)
    h3 = fit(_model(), train_x, test_x, epochs=1, progress=False, seed=4)
    assert h1.train_loss == h2.train_loss and h1.test_loss == h2.test_loss
    assert h1.train_loss != h3.train_loss


def test_train_loss_is_mean_of_batch_objective(mnist_small):
    """With a frozen model, the epoch's train loss is exactly the objective of the one shuffled batch."""
    train_x = mnist_small[0][:256]
    model = _model()
    hist = fit(model, train_x, epochs=1, batch_size=256, progress=False, lr=1e-30, seed=0)
    torch.manual_seed(0)
    perm = torch.randperm(256, generator=torch.Generator().manual_seed(0))
    terms = model_elbo(model, train_x[perm])
    assert hist.train_loss[0] == pytest.approx(terms.total.mean().item(), rel=1e-4)


def test_evaluate_is_repeatable_and_matches_model_elbo(mnist_small):
    test_x = mnist_small[2]
    model = _model()
    a, b = evaluate(model, test_x, seed=1), evaluate(model, test_x, seed=1)
    assert a == b and a["loss"] == pytest.approx(a["recon"] + a["kl"])
    torch.manual_seed(1)
    terms = model_elbo(model, test_x)
    assert a["loss"] == pytest.approx(terms.total.mean().item(), rel=1e-5)


def test_beta_changes_objective_not_reported_elbo(mnist_small):
    train_x, _, test_x, _ = mnist_small
    hist = fit(_model(), train_x[:256], test_x, epochs=1, progress=False, objective=ELBO(beta=4.0))
    assert hist.beta == [4.0]
    assert hist.train_loss[0] == pytest.approx(hist.train_recon[0] + hist.train_kl[0])


def test_kl_warmup_ramps_beta(mnist_small):
    train_x = mnist_small[0][:256]
    hist = fit(_model(), train_x, epochs=3, batch_size=128, progress=False, objective=ELBO(warmup_epochs=2))
    # steps 0,1 | 2,3 | 4,5 over 4 warm-up steps: means 0.125, 0.625, 1.0
    assert hist.beta == pytest.approx([0.125, 0.625, 1.0])


def test_free_bits_and_dynamic_binarization_run(mnist_small):
    train_x, _, test_x, _ = mnist_small
    hist = fit(_model(latent=4), train_x[:256], test_x[:64], epochs=1, progress=False,
               objective=ELBO(free_bits=0.5, binarize="dynamic"))
    assert math.isfinite(hist.train_loss[0]) and math.isfinite(hist.test_loss[0])


def test_nan_stops_at_once_with_clear_message(mnist_small):
    train_x = mnist_small[0][:256]
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def nan_loss(m, x, y):
        t = model_elbo(m, x)
        return ELBOTerms(t.recon, t.kl, t.total * float("nan"))

    with pytest.raises(TrainingDivergedError, match="loss became nan at epoch 1, batch 1"):
        fit(model, train_x, epochs=2, progress=False, objective=nan_loss)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])  # the bad step was not applied


def test_keyboard_interrupt_returns_history(mnist_small, capsys):
    train_x, _, test_x, _ = mnist_small

    def stop_in_epoch_two(epoch, hist):
        if epoch == 2:
            raise KeyboardInterrupt

    model = _model()
    hist = fit(model, train_x[:256], test_x[:64], epochs=5, progress=False, callbacks=stop_in_epoch_two)
    assert hist.interrupted and hist.epochs == 2
    assert "interrupted" in capsys.readouterr().out
    out = model(test_x[:4])[0]
    assert out.shape == (4, 1, 28, 28) and torch.isfinite(out).all()


def test_interrupt_inside_a_batch(mnist_small):
    train_x = mnist_small[0][:512]
    calls = {"n": 0}

    def loss_fn(m, x, y):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return model_elbo(m, x)

    hist = fit(_model(), train_x, epochs=2, progress=False, objective=loss_fn)
    assert hist.interrupted and hist.epochs == 0


@pytest.mark.parametrize("kwargs, err, match", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": -1}, ValueError, "epochs"),
    ({"epochs": 1, "batch_size": 0}, ValueError, "batch_size"),
    ({"epochs": 1, "lr": -1.0}, ValueError, "lr"),
    ({"epochs": 1, "lr": float("nan")}, ValueError, "lr"),
    ({"epochs": 1, "objective": "elbo"}, TypeError, "objective"),
    ({"epochs": 1, "callbacks": 3}, TypeError, "callbacks"),
    ({"epochs": 1, "device": "tpu"}, ValueError, "device"),
])
def test_bad_arguments(mnist_small, kwargs, err, match):
    with pytest.raises(err, match=match):
        fit(_model(), mnist_small[0][:8], **kwargs, progress=False)


def test_bad_images():
    with pytest.raises(ValueError, match=r"shape \(8, 3, 28, 28\)"):
        fit(_model(), torch.rand(8, 3, 28, 28), epochs=1, progress=False)
    with pytest.raises(TypeError, match="dtype torch.uint8"):
        fit(_model(), torch.zeros(8, 784, dtype=torch.uint8), epochs=1, progress=False)
    with pytest.raises(ValueError, match="one label per image"):
        fit(_model(), torch.rand(8, 784), epochs=1, progress=False, labels=(torch.zeros(3), None))


def test_precision_choice(monkeypatch):
    from vae_course.training import fit_loop as train

    cpu = torch.device("cpu")
    assert train.autocast_dtype("fp32", cpu) is None
    assert train.autocast_dtype("bf16", cpu) is torch.bfloat16
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: False)
    assert train.autocast_dtype("auto", cpu) is None
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: True)
    assert train.autocast_dtype("auto", cpu) is torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        train.autocast_dtype("fp8", cpu)


def test_bf16_mixed_precision_learns_like_fp32_and_reports_fp32(mnist_small):
    train_x, _, test_x, _ = mnist_small
    h32 = fit(_model(), train_x, test_x, epochs=2, progress=False, objective=ELBO(precision="fp32"))
    m16 = _model()
    h16 = fit(m16, train_x, test_x, epochs=2, progress=False, objective=ELBO(precision="bf16"))
    assert h32.precision == "fp32" and h16.precision == "bf16-mixed"
    assert all(p.dtype == torch.float32 for p in m16.parameters())  # weights stay float32
    assert abs(h16.test_loss[-1] - h32.test_loss[-1]) < 5.0
    again = fit(_model(), train_x, test_x, epochs=2, progress=False, objective=ELBO(precision="bf16"))
    assert again.test_loss == h16.test_loss  # still deterministic


def test_conditional_model_needs_test_labels_up_front(mnist_small):
    from vae_course.models import CVAE

    train_x, train_y, test_x, _ = mnist_small
    model = CVAE(latent_dim=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="pass the test labels too"):
        fit(model, train_x, test_x, labels=(train_y, None), epochs=1, progress=False)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # nothing was trained


def test_evaluate_rejects_bad_batch_size(mnist_small):
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(_model(), mnist_small[2], batch_size=0)


def test_evaluate_leaves_the_global_generator_alone(mnist_small):
    model = _model()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    evaluate(model, mnist_small[2][:32], seed=7)
    assert torch.equal(torch.rand(3), expected)


# --- issue 13: range checks, aligned History on Ctrl-C, gradients checked before the step, argument gaps ---------
@pytest.fixture
def grey():
    return torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("transform", [lambda x: x * 255, lambda x: x * 2 - 1], ids=["0-255", "minus1-1"])
def test_images_outside_0_1_are_refused(grey, transform):
    bad = transform(grey)
    for call in (lambda: fit(VAE(), bad, epochs=1, progress=False),
                 lambda: fit(VAE(), grey, bad, epochs=1, progress=False),
                 lambda: fit(VAE(), bad, epochs=1, progress=False, objective=ELBO(binarize="dynamic")),
                 lambda: evaluate(VAE(), bad)):
        with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*divide uint8 by 255, and don't use Normalize"):
            call()


def test_a_nan_test_pixel_is_refused(grey):
    bad = grey.clone()
    bad[3, 0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="test_images contain NaN"):
        fit(VAE(), grey, bad, epochs=1, progress=False)


def test_empty_train_or_test_tensor_is_refused(grey):
    with pytest.raises(ValueError, match="train_images has shape"):
        fit(VAE(), grey[:0], epochs=1, progress=False)
    with pytest.raises(ValueError, match="test_images has shape"):
        fit(VAE(), grey, grey[:0], epochs=1, progress=False)


def test_ctrl_c_during_the_test_evaluation_keeps_history_aligned(grey, capsys):
    calls = {"eval": 0}

    def loss_fn(model, x, y):
        if not model.training:  # evaluate() runs the model in eval mode
            calls["eval"] += 1
            if calls["eval"] == 2:  # during epoch 2's test evaluation
                raise KeyboardInterrupt
        return model_elbo(model, x, y)

    model = VAE()
    hist = fit(model, grey, grey[:16], epochs=3, batch_size=32, progress=False, objective=loss_fn)
    assert hist.interrupted
    lists = ("train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl", "beta", "epoch_seconds")
    assert {k: len(getattr(hist, k)) for k in lists} == {k: 1 for k in lists}
    assert "during epoch 2 of 3: returning the history of the 1 finished epoch(s)" in capsys.readouterr().out
    hist.extend(fit(model, grey, grey[:16], epochs=1, batch_size=32, progress=False))  # continue: stays aligned
    assert {len(getattr(hist, k)) for k in lists} == {2} and not hist.interrupted


def test_a_nan_gradient_with_a_finite_loss_is_not_applied(grey):
    model = VAE()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.fc1.weight.register_hook(lambda g: g * float("nan"))
    with pytest.raises(TrainingDivergedError, match="a gradient became nan at epoch 1, batch 1 although the loss"):
        fit(model, grey, epochs=1, progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_one_host_sync_per_step(grey, monkeypatch):
    """fit reads the loss and the gradients' health back with one sync per step (plus a few per call)."""
    syncs = {"n": 0}
    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        real = getattr(torch.Tensor, name)

        def counted(self, *args, _real=real, **kwargs):
            syncs["n"] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    fit(VAE(), grey, epochs=2, batch_size=8, progress=False, objective=ELBO(precision="fp32"))  # 2 x 8 steps
    assert 16 <= syncs["n"] <= 16 + 2 + 2, syncs  # + the per-epoch sums + the range check


def test_divergence_under_a_schedule_does_not_quote_one_lr(grey):
    model = VAE()
    model.fc1.weight.register_hook(lambda g: g * float("nan"))  # NaN weights from the start get their own message
    with pytest.raises(TrainingDivergedError) as info:
        fit(model, grey, epochs=1, progress=False, lr=lambda epoch: 0.5)
    assert "lr=" not in str(info.value) and "lower the learning rates" in str(info.value)


@pytest.mark.parametrize("kwargs, name", [
    ({"seed": 2**63}, "seed"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
    ({"lr": True}, "lr"), ({"objective": "elbo"}, "objective"), ({"callbacks": {}}, "callbacks"),
    ({"labels": {}}, "labels"),
])
def test_smaller_argument_gaps_get_one_sentence(grey, kwargs, name):
    with pytest.raises((ValueError, TypeError)) as info:
        fit(VAE(), grey, epochs=1, progress=False, **kwargs)
    msg = str(info.value)
    assert msg.startswith(name) and "\n" not in msg and msg.endswith(".")


def test_the_model_must_be_a_course_vae(grey):
    with pytest.raises(TypeError, match="model must be a course VAE"):
        fit("vae", grey, epochs=1, progress=False)


# --- issue 14: the training monitor --------------------------------------------------------------------------------
class _CountingMonitor:
    def __init__(self):
        self.calls = []

    def on_step(self, model, epoch, step, steps_per_epoch, history):
        self.calls.append(("step", epoch, step, steps_per_epoch, history.epochs))

    def on_epoch_end(self, model, epoch, history):
        self.calls.append(("epoch", epoch, history.epochs, len(history.test_loss)))


def test_fit_hands_the_monitor_the_model_the_epoch_the_step_and_the_history(mnist_small):
    train_x, _, test_x, _ = mnist_small
    mon = _CountingMonitor()
    fit(_model(), train_x[:256], test_x[:64], epochs=2, batch_size=128, progress=False, callbacks=mon)
    assert mon.calls == [("step", 1, 0, 2, 0), ("step", 1, 1, 2, 0), ("epoch", 1, 1, 1),
                         ("step", 2, 0, 2, 1), ("step", 2, 1, 2, 1), ("epoch", 2, 2, 2)]


def test_the_monitor_does_not_change_training(mnist_small):
    from vae_course.views import training_monitor

    train_x, _, test_x, test_y = mnist_small
    runs = []
    for monitor in ((), training_monitor(test_x, test_y, every="1 step", n_points=128)):
        model = _model()
        hist = fit(model, train_x, test_x, epochs=2, progress=False, seed=5, callbacks=monitor)
        runs.append((hist, model.state_dict(), torch.get_rng_state(), model.training))
    (h0, w0, rng0, mode0), (h1, w1, rng1, mode1) = runs
    assert h1.train_loss == h0.train_loss and h1.test_loss == h0.test_loss and h1.train_kl == h0.train_kl
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert torch.equal(rng0, rng1) and mode0 == mode1 is False  # the global RNG: untouched by the monitor


def test_a_bad_monitor_is_one_clear_sentence(mnist_small):
    from tests.test_bad_inputs import one_sentence_problem

    for bad in (3, "live", object()):
        with pytest.raises(TypeError, match="^callbacks must be") as info:
            fit(_model(), mnist_small[0][:64], epochs=1, progress=False, callbacks=bad)
        assert one_sentence_problem(str(info.value)) is None
