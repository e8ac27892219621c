"""Training a VQ-VAE and measuring its codebook: :func:`train_vqvae`, the codebook initialisations, dead-code
restarts, and the bound on -log p(x) under a prior over codes.

Used by notebook 12: :func:`load_or_train_vqvae` trains each of its VQ-VAEs once per seed and keeps it, with every
image's code grid and every test image's reconstruction term, in the checkpoint folder.

:func:`vae_course.training.fit` trains a model through ``loss_fn(model, x, y) -> ELBOTerms``, which has no place for the codebook and commitment terms or for what happens between steps here (the codebook's use is
logged every few steps, and dead codes are restarted from the batch's encoder outputs), so the VQ-VAE has this small
loop of its own: Adam on every parameter, seeded batches, float32 throughout.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch

from ..config import check_seed
from ..models.vqvae import VQVAE, CodePrior, code_counts, vq_terms
from .fit_loop import make_adam


@dataclass
class VQHistory:
    """What :func:`train_vqvae` logged. Each entry of ``step`` ends a window of ``log_every`` steps; ``perplexity``
    and ``dead`` describe the codes chosen at every position of every image in that window, ``recon`` is their mean
    Bernoulli NLL (nats per image), ``restarted`` counts the codes restarted in the window."""

    step: list[int] = field(default_factory=list)
    recon: list[float] = field(default_factory=list)
    perplexity: list[float] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    restarted: list[int] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0  # optimizer steps taken in all (the windows may end before the last one)

    def as_dict(self) -> dict:
        return asdict(self)


def init_codebook(model: VQVAE, how: str, images: torch.Tensor | None = None, *, scale: float = 1.0,
                  seed: int = 0) -> None:
    """Set ``model.codebook`` in place.

    ``"normal"``: N(0, scale^2) entries, whatever the encoder outputs (what ``VQVAE()`` starts with, scale 1);
    ``"data"``: K encoder outputs z_e picked at random positions of ``images`` (data initialisation).
    """
    check_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    k, d = model.codebook.shape
    with torch.no_grad():
        if how == "normal":
            model.codebook.copy_(scale * torch.randn(k, d, generator=gen))
        elif how == "data":
            if images is None:
                raise ValueError("init_codebook(model, 'data', images): give the images whose encoder outputs to use.")
            z = model.encode(images).reshape(-1, d)  # (N * 49, D)
            pick = torch.randperm(z.shape[0], generator=gen)[:k]
            model.codebook.copy_(z[pick])
        else:
            raise ValueError(f"how={how!r} is not known: use 'normal' or 'data'.")


@torch.no_grad()
def restart_dead_codes(model: VQVAE, z_e: torch.Tensor, counts: torch.Tensor, generator: torch.Generator) -> int:
    """Move every code with ``counts == 0`` onto a random encoder output of ``z_e (..., D)``; return how many moved."""
    dead = (counts == 0).nonzero().flatten()
    if dead.numel():
        flat = z_e.reshape(-1, z_e.shape[-1])  # (N, D)
        pick = torch.randint(0, flat.shape[0], (dead.numel(),), generator=generator)
        model.codebook[dead] = flat[pick]
    return int(dead.numel())


def _binary_images(images) -> torch.Tensor:
    """``images`` flattened to ``(N, 784)``, or one clear error for a non-tensor, an empty batch or another shape."""
    if not isinstance(images, torch.Tensor) or images.ndim < 2 or images.shape[0] == 0 or images[0].numel() != 784:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a non-empty batch of binary MNIST images shaped (N, 1, 28, 28) or "
                         f"(N, 784), got {shape}.")
    return images.reshape(images.shape[0], 784)


def train_vqvae(model: VQVAE, images: torch.Tensor, *, epochs: int, batch_size: int = 128, lr: float = 1e-3,
                beta: float = 0.25, seed: int = 0, log_every: int = 20, restart_dead: bool = False) -> VQHistory:
    """Train ``model`` on binary ``images`` with Adam on :func:`~vae_course.models.vqvae.vq_terms`'s total.

    Every ``log_every`` steps the codes chosen in that window are summarised (perplexity, dead codes); with
    ``restart_dead=True`` the codes that no position of the window chose are then moved onto random encoder outputs
    of the current batch (as in Dhariwal et al. 2020's Jukebox).
    """
    check_seed(seed)
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("log_every", log_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}={value!r} must be a positive whole number.")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta={beta!r} must be a finite number >= 0 (the commitment weight; the course uses 0.25).")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr={lr!r} must be a finite number > 0, e.g. lr=1e-3.")
    flat = _binary_images(images)
    if not bool(((flat == 0) | (flat == 1)).all()):
        raise ValueError("train_vqvae needs binary images (0 or 1): load them with binarize='static'.")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = make_adam(model.parameters(), lr)
    hist = VQHistory()
    k = model.config.codebook_size
    window = torch.zeros(k, dtype=torch.int64)
    recon_sum, seen, step = 0.0, 0, 0
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(flat.shape[0], generator=gen)
        for b in range(math.ceil(flat.shape[0] / batch_size)):
            xb = flat[perm[b * batch_size:(b + 1) * batch_size]]  # (B, 784)
            out = model(xb)
            terms = vq_terms(out.logits, xb, out.z_e, out.z_q, beta)
            loss = terms.total.mean()
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"the loss became {loss.item()} at step {step}: lower the learning rate.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            window += code_counts(out.indices, k)
            recon_sum += float(terms.recon.detach().sum())
            seen += xb.shape[0]
            step += 1
            if step % log_every == 0:
                p = window.double() / window.sum()
                hist.step.append(step)
                hist.recon.append(recon_sum / seen)
                hist.perplexity.append(float((-(p[p > 0] * p[p > 0].log()).sum()).exp()))
                hist.dead.append(int((window == 0).sum()))
                hist.restarted.append(restart_dead_codes(model, out.z_e.detach(), window, gen) if restart_dead else 0)
                window.zero_()
                recon_sum, seen = 0.0, 0
    hist.seconds = time.perf_counter() - start
    hist.steps = step
    model.eval()
    return hist


@torch.no_grad()
def encode_indices(model: VQVAE, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The code grid of every image: ``(N, 7, 7)`` int64."""
    model.eval()
    return torch.cat([model.quantize(model.encode(images[i:i + batch_size]))[0]
                      for i in range(0, images.shape[0], batch_size)])


@torch.no_grad()
def vq_bound(model: VQVAE, images: torch.Tensor, prior: CodePrior, batch_size: int = 1000) -> dict[str, float]:
    """The negative ELBO of binary ``images`` under ``prior``, in nats per image: ``recon + kl``.

    q(k | x) puts all its mass on the nearest codes k*(x), so its entropy is 0 and KL(q || p) = -log p(k*), and
    ``recon + kl`` is an upper bound on -log p(x) for the model k ~ prior, x ~ Bernoulli(decoder(e_k)).
    """
    k = model.config.codebook_size
    if isinstance(prior, CodePrior) and prior.log_probs.shape[1] != k:
        got = prior.log_probs.shape[1]
        raise ValueError(f"prior must be a CodePrior over the model's {k} codes, got {got}: build it with "
                         f"CodePrior.fit(indices, {k}) or CodePrior.uniform({k}).")
    _binary_images(images)
    model.eval()
    recon, kl = 0.0, 0.0
    for i in range(0, images.shape[0], batch_size):
        xb = images[i:i + batch_size]
        out = model(xb)
        terms = vq_terms(out.logits, xb, out.z_e, out.z_q)
        recon += float(terms.recon.double().sum())
        kl += float(-prior.log_prob(out.indices).sum())
    n = images.shape[0]
    return {"recon": recon / n, "kl": kl / n, "loss": (recon + kl) / n}


@torch.no_grad()
def per_image_vq_recon(model: VQVAE, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Each image's reconstruction term, the Bernoulli NLL ``-log p(x | e_k*)`` in nats: ``(N,)`` float64."""
    model.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):
        xb = images[i:i + batch_size]
        o = model(xb)
        out.append(vq_terms(o.logits, xb, o.z_e, o.z_q).recon.double())
    return torch.cat(out)


def load_or_train_vqvae(name: str, train_images: torch.Tensor, test_images: torch.Tensor, *, init: str = "normal",
                        restart_dead: bool = False, epochs: int, codebook_size: int = 64, code_dim: int = 16,
                        seed: int = 0, log_every: int = 20, init_images: int = 256, folder=None,
                        retrain: bool = False):
    """Train notebook 12's VQ-VAE (or load it from ``<checkpoint folder>/<name>.pt`` when the key matches) and score
    it: a :class:`~vae_course.training.CachedRun` whose ``history`` is the :class:`VQHistory` and whose ``scores``
    hold ``recon`` (each test image's Bernoulli NLL, ``(N,)``), ``train_codes`` and ``test_codes`` (every image's
    ``(7, 7)`` code grid, uint8 when ``codebook_size <= 256``).

    ``init="normal"`` keeps ``VQVAE()``'s N(0, 1) codebook; ``"data"`` starts it at encoder outputs of the first
    ``init_images`` training images (:func:`init_codebook`). The model is built after ``seed_everything(seed)``.
    """
    from ..config import seed_everything
    from .runs import load_or_train_run, run_key

    if init not in ("normal", "data"):
        raise ValueError(f"init={init!r} is not known: use 'normal' (N(0, 1) codebook) or 'data'.")

    def build():
        seed_everything(seed)
        model = VQVAE(codebook_size=codebook_size, code_dim=code_dim)
        if init == "data":
            init_codebook(model, "data", train_images[:init_images])
        return model

    key = run_key(build(), train_images, test_images, epochs=epochs, seed=seed, init=init,
                  init_images=init_images if init == "data" else 0, restart_dead=bool(restart_dead),
                  log_every=log_every, trainer="train_vqvae")

    def train():
        model = build()
        return model, train_vqvae(model, train_images, epochs=epochs, seed=seed, log_every=log_every,
                                  restart_dead=restart_dead)

    small = codebook_size <= 256

    def score(model):
        codes = lambda x: encode_indices(model, x).to(torch.uint8 if small else torch.int64)  # noqa: E731
        return {"recon": per_image_vq_recon(model, test_images), "train_codes": codes(train_images),
                "test_codes": codes(test_images)}

    return load_or_train_run(name, key, train, score, history_type=VQHistory, folder=folder, retrain=retrain)
