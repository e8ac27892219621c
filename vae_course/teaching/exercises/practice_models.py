"""The model-building exercises of notebook 05: the reference VAE as an ``nn.Module``, and one training step.

The learner's VAE keeps the interface of :class:`vae_course.models.VAE`, so that it can be trained, evaluated and
plotted by everything else in the course::

    class MyVAE(nn.Module):
        def __init__(self, input_dim=784, hidden_dim=400, latent_dim=2): ...
        def encode(self, x):            # x (B, 1, 28, 28) or (B, 784) -> mu (B, D), logvar (B, D)
        def reparameterize(self, mu, logvar):   # -> z (B, D), noise from torch.randn_like
        def decode_logits(self, z):     # -> Bernoulli logits (B, 784), no sigmoid
        def forward(self, x):           # -> (recon, mu, logvar); recon = sigmoid(logits) shaped like x

:func:`check_vae_module` checks the parameter count (631,188 for 784-400-2), maps the learner's parameters onto the
reference's layers by order and shape, loads the reference's weights, and compares every output; then it checks that
gradients reach every parameter. Noise is made reproducible by seeding torch's generator (``torch.manual_seed``)
right before each call, the learner's and the reference's, so both draw the same ``eps``.

:func:`check_train_step` runs ``train_step(model, optimizer, x) -> float`` for a few steps on a fixed seeded batch,
next to the reference step on an identical copy of the model and optimizer, with ``torch.manual_seed(100 + step)``
before each step, and compares the reported losses (nats per image).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...models import VAE
from .core import CheckResult, Exercise, Verdict, attempt, checker, fail, mismatch, passed, require, seeded

LAYERS = ("fc1", "fc_mu", "fc_logvar", "fc3", "fc4")
ROLES = {"fc1": "the encoder's hidden layer (input_dim -> hidden_dim)",
         "fc_mu": "the mu head (hidden_dim -> latent_dim)", "fc_logvar": "the logvar head (hidden_dim -> latent_dim)",
         "fc3": "the decoder's hidden layer (latent_dim -> hidden_dim)",
         "fc4": "the output layer (hidden_dim -> input_dim)"}
SIZES = [("case 1 (the reference sizes, VAEClass())", {}),
         ("case 2 (other sizes, VAEClass(input_dim=784, hidden_dim=32, latent_dim=3))",
          {"input_dim": 784, "hidden_dim": 32, "latent_dim": 3})]


def _reference_model(**sizes):
    return VAE(**sizes)


def _images(seed: int, b: int = 4, flat: bool = False) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.bernoulli(torch.full((b, 1, 28, 28), 0.3), generator=gen)
    return x.reshape(b, 784) if flat else x


def _map_parameters(name: str, desc: str, mine: nn.Module, ref: nn.Module) -> list[tuple[nn.Parameter, str]]:
    """The learner's parameters, each with the reference parameter it stands for: by order when the shapes agree,
    else layer by layer, matching each reference layer to the first unused ``nn.Linear`` of the same shape."""
    theirs, ours = list(mine.named_parameters()), list(ref.named_parameters())
    listed = ", ".join(f"{n} {tuple(p.shape)}" for n, p in theirs) or "none"
    require(name, len(theirs) == len(ours),
            f"{desc}: your model has {len(theirs)} parameter tensors ({listed}); the reference has {len(ours)}, a "
            f"weight and a bias for each of its five linear layers: " + ", ".join(ROLES.values()) + ".")
    if all(p.shape == q.shape for (_, p), (_, q) in zip(theirs, ours)):
        return [(p, n) for (_, p), (n, _) in zip(theirs, ours)]
    linears = [m for m in mine.modules() if isinstance(m, nn.Linear) and m.bias is not None]
    require(name, len(linears) == len(LAYERS),
            f"{desc}: your parameters ({listed}) are not in the reference's order ({', '.join(LAYERS)}) and are not "
            f"five nn.Linear layers with biases either.")
    used, mapping = set(), []
    for layer in LAYERS:
        shape = getattr(ref, layer).weight.shape
        match = next((i for i, m in enumerate(linears) if i not in used and m.weight.shape == shape), None)
        require(name, match is not None,
                f"{desc}: none of your linear layers has the weight shape {tuple(shape)} of the reference's {layer}, "
                f"{ROLES[layer]}. Yours: {listed}.")
        used.add(match)
        mapping += [(linears[match].weight, f"{layer}.weight"), (linears[match].bias, f"{layer}.bias")]
    return mapping


def _unmatched(mine: nn.Module, ref: nn.Module) -> str:
    """Which reference layers have no parameter of the same shape in the learner's model, and the reverse."""
    theirs = [(n, tuple(p.shape)) for n, p in mine.named_parameters()]
    missing = []
    for ref_name, q in ref.named_parameters():
        match = next((i for i, (_, shape) in enumerate(theirs) if shape == tuple(q.shape)), None)
        if match is None:
            missing.append(f"{ref_name} {tuple(q.shape)} ({ROLES[ref_name.split('.')[0]]})")
        else:
            theirs.pop(match)
    parts = []
    if missing:
        parts.append("No parameter of yours has the shape of the reference's " + ", ".join(missing[:3])
                     + (f" and {len(missing) - 3} more" if len(missing) > 3 else "") + ".")
    if theirs:
        parts.append("Yours without a counterpart: " + ", ".join(f"{n} {s}" for n, s in theirs[:3])
                     + (f" and {len(theirs) - 3} more" if len(theirs) > 3 else "") + ".")
    return " ".join(parts)


def _load(mapping, ref: nn.Module) -> None:
    """Copy the reference's weights into the learner's parameters."""
    ref_params = dict(ref.named_parameters())
    with torch.no_grad():
        for p, ref_name in mapping:
            p.copy_(ref_params[ref_name])


def _hidden(layer, h, act=F.relu):
    return act(layer(h))


def _encode_variant(ref, x, act=F.relu, std=False):
    h = _hidden(ref.fc1, x.reshape(len(x), -1), act)
    lv = ref.fc_logvar(h)
    return ref.fc_mu(h), (torch.exp(0.5 * lv) if std else lv)


def _decode_variant(ref, z, act=F.relu, squash=False):
    logits = ref.fc4(_hidden(ref.fc3, z, act))
    return torch.sigmoid(logits) if squash else logits


def _identity(t):
    return t


def _check_output(name, where, got, want, variants, layers="", note=""):
    """Stop with a FAIL naming the output, any recognised mistake and the reference layers on the output's path (or
    ``note``), unless it matches."""
    why = mismatch(got, want)
    if why is not None:
        notes = "".join(f" {msg}" for msg, alt in variants if mismatch(got, alt) is None)
        if notes:  # a named mistake replaces the generic guesses
            why = mismatch(got, want, generic=False)
        tail = note or f"The reference layers on its path: {layers}."
        raise Verdict(fail(name, f"{where}: {why}{notes} {tail}"))


@checker
def check_vae_module(VAEClass) -> CheckResult:
    """Notebook 05: ``VAEClass`` is the learner's ``nn.Module`` class for the reference VAE (see the module doc).

    Checked for two sizes (784-400-2 and 784-32-3): the parameter count (631,188 for 784-400-2), a mapping of the
    learner's parameters onto the reference's five layers (by order, else by shape), the shapes and values of
    ``encode``, ``decode_logits``, ``reparameterize`` and ``forward`` against :class:`vae_course.models.VAE` loaded
    with the same weights, and gradients reaching every parameter.
    """
    name = "vae_module"
    require(name, isinstance(VAEClass, type),
            f"pass the class itself, e.g. check_vae_module(MyVAE), not {type(VAEClass).__name__ + ' object'}.")
    for desc, sizes in SIZES:
        with seeded(0):
            mine = attempt(name, f"{desc}: creating your model", VAEClass, **sizes)
            ref = _reference_model(**sizes)
        require(name, isinstance(mine, nn.Module), f"{desc}: your class does not make an nn.Module (subclass nn.Module "
                                                   f"and call super().__init__() first).")
        n_mine, n_ref = sum(p.numel() for p in mine.parameters()), ref.num_parameters()
        ignored = " Your model seems to ignore the sizes it is given: build the layers from input_dim, hidden_dim " \
                  "and latent_dim." if sizes and n_mine == 631_188 else ""
        require(name, n_mine == n_ref, f"{desc}: your model has {n_mine:,} parameters, the reference has {n_ref:,}."
                                       f"{ignored or ' ' + _unmatched(mine, ref)}")
        _load(_map_parameters(name, desc, mine, ref), ref)
        for method in ("encode", "reparameterize", "decode_logits"):
            require(name, callable(getattr(mine, method, None)),
                    f"{desc}: your model has no method {method}(); it needs encode, reparameterize, decode_logits and "
                    f"forward, like vae_course.models.VAE.")
        d = ref.latent_dim
        for flat in (False, True):
            x = _images(1, flat=flat)
            shape = "flat images (4, 784)" if flat else "images (4, 1, 28, 28)"
            out = attempt(name, f"{desc}: encode on {shape}", mine.encode, x)
            require(name, isinstance(out, (tuple, list)) and len(out) == 2,
                    f"{desc}: encode should return two tensors (mu, logvar), got {type(out).__name__}.")
            with torch.no_grad():
                mu_r, lv_r = ref.encode(x)
                _check_output(name, f"{desc}: encode on {shape}, mu", out[0], mu_r, [
                    ("You might be missing the ReLU after the hidden layer.", _encode_variant(ref, x, _identity)[0]),
                    ("Your mu looks like the reference's logvar: are the two heads swapped?", lv_r)], "fc1, fc_mu")
                _check_output(name, f"{desc}: encode on {shape}, logvar", out[1], lv_r, [
                    ("You might be missing the ReLU after the hidden layer.", _encode_variant(ref, x, _identity)[1]),
                    ("Did you return the standard deviation where logvar belongs?", _encode_variant(ref, x, std=True)[1]),
                    ("Your logvar looks like the reference's mu: are the two heads swapped?", mu_r)], "fc1, fc_logvar")
        z = torch.randn(5, d, generator=torch.Generator().manual_seed(2))
        logits = attempt(name, f"{desc}: decode_logits on codes (5, {d})", mine.decode_logits, z)
        with torch.no_grad():
            _check_output(name, f"{desc}: decode_logits on codes (5, {d})", logits, ref.decode_logits(z), [
                ("Those look like pixel means: decode_logits returns the logits, before any sigmoid.",
                 _decode_variant(ref, z, squash=True)),
                ("You might be missing the ReLU after the decoder's hidden layer.", _decode_variant(ref, z, _identity))],
                "fc3, fc4")
        mu, lv = torch.zeros(3, d), torch.full((3, d), 0.5)
        with seeded(3):
            zm = attempt(name, f"{desc}: reparameterize", mine.reparameterize, mu, lv)
        with seeded(3), torch.no_grad():
            zr = ref.reparameterize(mu, lv)
        with seeded(3):
            eps = torch.randn(3, d)
        _check_output(name, f"{desc}: reparameterize(mu=0, logvar=0.5) under torch.manual_seed(3)", zm, zr, [
            ("Did you use the variance where the standard deviation belongs?", mu + torch.exp(lv) * eps),
            ("Your sample ignores the noise.", mu)],
            note="Draw the noise with torch.randn_like: the checker seeds torch's generator before each call, so that "
                 "yours and the reference's are the same.")
        x = _images(4)
        with seeded(5):
            out = attempt(name, f"{desc}: forward on images (4, 1, 28, 28)", mine, x)
        with seeded(5), torch.no_grad():
            ref_out = ref(x)
        require(name, isinstance(out, (tuple, list)) and len(out) == 3,
                f"{desc}: forward should return three tensors (recon, mu, logvar), got {type(out).__name__}.")
        with seeded(5), torch.no_grad():
            mu_r, lv_r = ref.encode(x)
            logits_r = ref.decode_logits(ref.reparameterize(mu_r, lv_r))  # the same draw as ref(x) above
            logits_mu = ref.decode_logits(mu_r)
        _check_output(name, f"{desc}: forward on images (4, 1, 28, 28), recon", out[0], ref_out[0], [
            ("Like vae_course.models.VAE, forward returns the pixel means shaped like x.", torch.sigmoid(logits_r)),
            ("Those look like logits: forward returns pixel means (the sigmoid of the logits), shaped like x.",
             logits_r),
            ("Those look like logits: forward returns pixel means (the sigmoid of the logits), shaped like x.",
             logits_r.reshape(x.shape)),
            ("Your forward decodes mu itself: it should decode a reparameterized sample z.",
             torch.sigmoid(logits_mu).reshape(x.shape))], "fc1, fc_mu, fc_logvar, fc3, fc4")
        for label, got, want in (("mu", out[1], ref_out[1]), ("logvar", out[2], ref_out[2])):
            _check_output(name, f"{desc}: forward, {label}", got, want, [], "fc1, fc_mu, fc_logvar")
        mine.zero_grad()
        with seeded(6):
            recon, mu, lv = attempt(name, f"{desc}: forward for the gradient check", mine, x)
        loss = F.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), x, reduction="sum") + (mu ** 2 + lv.exp()).sum()
        require(name, loss.requires_grad, f"{desc}: forward's outputs carry no gradient: were they detached, or made "
                                          f"under torch.no_grad()?")
        loss.backward()
        dead = [n for n, p in mine.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
        require(name, not dead, f"{desc}: no gradient reaches {', '.join(dead)} through forward: is a layer unused, "
                                f"or an output detached?")
    return passed(name, "631,188 parameters for 784-400-2, every output equal to vae_course.models.VAE's with the "
                        "same weights, and gradients reaching every parameter (two model sizes).")


# --- one training step ---
def _train_step_reference(model, optimizer, x) -> float:
    from ...objectives.losses import elbo, encode_decode

    optimizer.zero_grad()
    logits, mu, logvar = encode_decode(model, x)  # (B, 784), (B, D), (B, D): one reparameterized z per image
    loss = elbo(logits, x, mu, logvar).total.mean()  # nats per image
    loss.backward()
    optimizer.step()
    return loss.item()


def _variant_step(*, zero_grad=True, per_image=True, kl=True, pixel_mean=False, probabilities=False):
    def step(model, optimizer, x):
        if zero_grad:
            optimizer.zero_grad()
        mu, logvar = model.encode(x)
        logits = model.decode_logits(model.reparameterize(mu, logvar))
        flat = x.reshape(len(x), -1)
        if probabilities:  # through sigmoid probabilities, as model(x) gives them: clamped at log 0 = -100
            bce = F.binary_cross_entropy(torch.sigmoid(logits), flat, reduction="none")
        else:
            bce = F.binary_cross_entropy_with_logits(logits, flat, reduction="none")
        bce = bce.mean(1) if pixel_mean else bce.sum(1)
        per = bce + (-0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1) if kl else 0)
        loss = per.mean() if per_image else per.sum()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


# (description, sizes, learning rate, batch size, flat images, confident decoder)
STEP_CASES = [("the reference VAE 784-400-2, Adam(lr=1e-3), 16 binary images (16, 1, 28, 28)", {}, 1e-3, 16, False,
               False),
              ("a VAE 784-32-3, Adam(lr=3e-3), 5 flat images (5, 784)", {"hidden_dim": 32, "latent_dim": 3}, 3e-3,
               5, True, False),
              ("a VAE 784-32-3 whose decoder is already confident (output biases +-30, about half of them pointing "
               "the wrong way), Adam(lr=3e-3), 6 binary images (6, 1, 28, 28)", {"hidden_dim": 32, "latent_dim": 3},
               3e-3, 6, False, True)]
STEPS = 4
CONFIDENT = 30.0  # |logit| of the confident decoder: sigmoid rounds to exactly 0 or 1 in float32 beyond about 17


def _run_steps(name, fn, sizes, lr, b, flat, confident, learner, where=""):
    with seeded(0):
        model = _reference_model(**sizes)
    if confident:  # a decoder sure of every pixel, right or wrong: where the BCE through probabilities breaks down
        signs = 2 * torch.bernoulli(torch.full_like(model.fc4.bias, 0.5), generator=torch.Generator().manual_seed(8)) - 1
        with torch.no_grad():
            model.fc4.bias.copy_(CONFIDENT * signs)
    start = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x = _images(7, b, flat)
    losses = []
    for step in range(STEPS):
        with seeded(100 + step):
            value = attempt(name, f"{where}, step {step + 1}", fn, model, optimizer, x) if learner else \
                fn(model, optimizer, x)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.detach().reshape(()).item()
        require(name, isinstance(value, (int, float)) and not isinstance(value, bool),
                f"{where}, step {step + 1}: train_step should return the loss as a Python number (loss.item()), "
                f"got {type(value).__name__}.")
        losses.append(float(value))
    moved = any(not torch.equal(p.detach(), q) for p, q in zip(model.parameters(), start))
    return torch.tensor(losses, dtype=torch.float64), moved


@checker
def check_train_step(student_fn: Callable) -> CheckResult:
    """Notebook 05: ``train_step(model, optimizer, x) -> float``, one optimizer step on the negative ELBO.

    The step clears the gradients, computes the loss (Bernoulli BCE from the logits summed over pixels, plus the KL,
    averaged over the images: nats per image), backpropagates, steps the optimizer, and returns the loss as a Python
    float. Its noise comes from ``model.reparameterize`` (or ``torch.randn_like``), drawn once per step: the checker
    calls ``torch.manual_seed(100 + step)`` before each step. Compared with the reference step over 4 steps on three
    models and batches (the losses reported, and that the parameters moved); the third model's decoder is already
    confident (logits of +-30), where a BCE through sigmoid probabilities is clamped and differs.
    """
    name = "train_step"
    require(name, callable(student_fn), "pass your function itself, e.g. check_train_step(train_step), not its result.")
    for i, (desc, sizes, lr, b, flat, confident) in enumerate(STEP_CASES, start=1):
        want, _ = _run_steps(name, _train_step_reference, sizes, lr, b, flat, confident, learner=False)
        got, moved = _run_steps(name, student_fn, sizes, lr, b, flat, confident, learner=True,
                                where=f"case {i} ({desc})")
        require(name, moved, f"case {i} ({desc}): your parameters did not change over {STEPS} steps: was the "
                             f"optimizer's step taken (after backward)?")
        why = mismatch(got, want)
        if why:
            notes = []
            for message, variant in [
                ("Your later losses drift as if the gradients piled up from step to step: clear them at the start "
                 "of each step.", _variant_step(zero_grad=False)),
                ("You report the loss of the whole batch: report it per image (nats per image).",
                 _variant_step(per_image=False)),
                ("The KL term seems to be missing from your loss.", _variant_step(kl=False)),
                ("You might be averaging the BCE over the pixels where the loss sums them.",
                 _variant_step(pixel_mean=True)),
                ("Your losses match a BCE computed through sigmoid probabilities (model(x), or torch.sigmoid then "
                 "F.binary_cross_entropy): where the decoder is confident, the sigmoid rounds to exactly 0 or 1 in "
                 "float32, torch clamps the log at -100, and those pixels send no gradient (section 4 of notebook 05). "
                 "Compute the BCE from the logits themselves.", _variant_step(probabilities=True))]:
                if mismatch(got, _run_steps(name, variant, sizes, lr, b, flat, confident, learner=False)[0]) is None:
                    notes.append(message)
            if not notes and mismatch(got[:1], want[:1]) is None:
                notes.append("Your first loss matches and the later ones do not: check the update itself (which "
                             "optimizer steps, and on what).")
            return fail(name, f"case {i} ({desc}), losses of steps 1-{STEPS} (nats per image): {why}"
                              f"{''.join(' ' + n for n in notes)}")
    return passed(name, f"the losses of {STEPS} steps match the reference step's on three models and batches (one "
                        f"with a confident decoder).")


EXERCISES = (
    Exercise("vae_module", check_vae_module, VAE, (
        "The reference VAE is five linear layers: the encoder's hidden layer with two heads on top (mu and logvar) "
        "and the decoder's hidden layer with the output layer on top, a ReLU after each hidden layer.",
        "Create the layers in __init__ in the order encoder hidden, mu head, logvar head, decoder hidden, output, "
        "each from the sizes you are given. encode flattens x to (B, input_dim) and returns the two heads; "
        "reparameterize shifts and scales standard normal noise drawn with torch.randn_like; decode_logits returns "
        "the output layer's values with no sigmoid; forward chains them and returns the pixel means shaped like x "
        "with mu and logvar.",
        "Layer shapes: fc1 input_dim -> hidden_dim; fc_mu and fc_logvar hidden_dim -> latent_dim; fc3 latent_dim -> "
        "hidden_dim; fc4 hidden_dim -> input_dim. The maths: h = ReLU(W_1 x + b_1); mu = W_mu h + b_mu; "
        "logvar = W_logvar h + b_logvar; z = mu + exp(logvar / 2) * eps with eps ~ N(0, I); "
        "eta = W_4 ReLU(W_3 z + b_3) + b_4 (decode_logits); recon = sigmoid(eta), reshaped to x's shape (forward)."),
        "05", replaces=("vae_course.models.mlp.VAE",)),
    Exercise("train_step", check_train_step, _train_step_reference, (
        "One training step is one move of the optimizer downhill on the negative ELBO of the batch: clear the old "
        "gradients, compute the loss, backpropagate, update, and report the loss in nats per image.",
        "Encode x, draw z once with the model's reparameterize, decode to logits; the loss is the BCE from the "
        "logits (never through sigmoid probabilities) summed over the pixels plus the KL summed over the latent "
        "dimensions, averaged over the images. Clear the gradients before backward, step after it, and return "
        "the loss as a Python float.",
        "loss = (1/B) sum_b [ sum_j (softplus(eta_bj) - x_bj eta_bj) + 1/2 sum_k (mu_bk^2 + sigma_bk^2 - 1 - "
        "log sigma_bk^2) ], with eta the logits of z = mu + sigma * eps. The step, with blanks: "
        "`optimizer.____()`; `mu, logvar = ____`; `eta = ____`; `loss = ____`; `loss.____()`; `optimizer.____()`; "
        "`return loss.____()`."), "05",
        replaces=("vae_course.objectives.losses.elbo", "vae_course.objectives.losses.model_elbo",
                  "vae_course.objectives.losses.reference_loss")),
)
