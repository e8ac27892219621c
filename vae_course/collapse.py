"""The beta-VAE and posterior collapse: per-dimension KL, active units, and notebook 09's experiments.

Used by notebook 09 and ``benchmarks/beta_sweep.py``.

* :func:`kl_weight`, the linear KL warm-up that ``fit(kl_warmup_epochs=...)`` follows, lives with the training
  objective in :mod:`vae_course.objective`; it is re-exported here because notebook 09 calls ``collapse.kl_weight``.
* :func:`active_units` counts the latent dimensions the encoder actually uses, with the covariance criterion of
  Burda et al. 2015: unit ``u`` is active when ``A_u = Cov_x( E_{q(u|x)}[u] ) > 0.01``. For a Gaussian encoder
  ``E_{q(u|x)}[u] = mu_u(x)``, so ``A_u`` is the variance of ``mu_u`` over the images.
* :func:`kl_per_dim` is ``KL(q(z_u|x) || N(0, 1))`` averaged over the images, one number per latent dimension
  (they add up to the model's KL, the "rate"). A collapsed dimension has a KL of about 0.
* :func:`beta_sweep`, :func:`collapse_run` / :func:`remedy_runs` and :func:`markdown_table` are notebook 09's
  experiments (one MLP VAE per beta; the autoregressive-decoder VAE with and without remedies), shared with the script.

References:
    Burda, Grosse & Salakhutdinov 2015, "Importance Weighted Autoencoders" (arXiv:1509.00519), section 5.2.
    Bowman et al. 2016, "Generating Sentences from a Continuous Space" (arXiv:1511.06349): KL annealing.
    Kingma et al. 2016, "Improved Variational Inference with Inverse Autoregressive Flow" (arXiv:1606.04934): free bits.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .losses import gaussian_kl_per_dim
from .objective import _number, kl_weight  # noqa: F401  (kl_weight: notebook 09 calls collapse.kl_weight)


@torch.no_grad()
def posterior_params(model, images: torch.Tensor, labels: torch.Tensor | None = None, *,
                     batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's ``(mu, logvar)`` for every image, each ``(N, D)`` on the CPU (labels for a conditional model)."""
    if not isinstance(images, torch.Tensor) or images.ndim < 2 or images.shape[0] == 0:
        raise ValueError("images must be a non-empty tensor of images shaped (N, 1, 28, 28) or (N, 784).")
    if labels is not None and (not isinstance(labels, torch.Tensor) or labels.shape[0] != images.shape[0]):
        raise ValueError(f"labels must be a tensor with one label per image ({images.shape[0]}).")
    if getattr(model, "conditional", False) and labels is None:
        raise ValueError("this model is conditional: pass labels= (one label per image).")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    mus, logvars = [], []
    for i in range(0, images.shape[0], batch_size):
        extra = () if labels is None else (labels[i:i + batch_size].to(device),)
        mu, logvar = model.encode(images[i:i + batch_size].to(device), *extra)  # (b, D) each
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    model.train(was_training)
    return torch.cat(mus), torch.cat(logvars)  # (N, D), (N, D)


def unit_activity(mu: torch.Tensor) -> torch.Tensor:
    """``A_u = Cov_x(E_q[u])``: the variance over images of each posterior mean, ``(N, D) -> (D,)``."""
    if not isinstance(mu, torch.Tensor) or mu.ndim != 2 or mu.shape[0] < 2:
        raise ValueError("mu must be a (N, D) tensor of posterior means with at least 2 images (N >= 2).")
    return mu.double().var(dim=0, unbiased=True).to(mu.dtype)  # (D,)


def count_active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    """How many columns of the posterior means ``mu`` (N, D) vary by more than ``threshold`` over the images."""
    threshold = _number("threshold", threshold)
    return int((unit_activity(mu) > threshold).sum().item())


def active_units(model, images: torch.Tensor, threshold: float = 0.01, *, labels: torch.Tensor | None = None,
                 batch_size: int = 1000) -> int:
    """Burda et al.'s active units of ``model`` on ``images``: dims with ``Var_x(mu_u(x)) > threshold``."""
    mu, _ = posterior_params(model, images, labels, batch_size=batch_size)
    return count_active_units(mu, threshold)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(q(z_u|x) || N(0,1))`` averaged over the images: ``(N, D), (N, D) -> (D,)`` nats; sums to the rate."""
    return gaussian_kl_per_dim(mu, logvar).double().mean(dim=0).to(mu.dtype)  # (D,)


@dataclass
class CollapseSummary:
    """What notebook 09 reports per model: per-dim KL and activity, active units and the total KL (rate)."""

    kl_per_dim: torch.Tensor  # (D,) nats, averaged over images
    activity: torch.Tensor  # (D,) Var_x(mu_u)
    threshold: float

    @property
    def active(self) -> int:
        return int((self.activity > self.threshold).sum().item())

    @property
    def latent_dim(self) -> int:
        return self.kl_per_dim.shape[0]

    @property
    def kl(self) -> float:
        return float(self.kl_per_dim.sum())

    def __repr__(self) -> str:
        return (f"CollapseSummary(active units {self.active}/{self.latent_dim}, KL {self.kl:.2f} nats, "
                f"largest per-dim KL {float(self.kl_per_dim.max()):.2f})")


def collapse_summary(model, images: torch.Tensor, labels: torch.Tensor | None = None, *,
                     threshold: float = 0.01, batch_size: int = 1000) -> CollapseSummary:
    """Per-dimension KL, unit activity and active units of ``model`` on ``images`` in one pass of the encoder."""
    threshold = _number("threshold", threshold)
    mu, logvar = posterior_params(model, images, labels, batch_size=batch_size)
    return CollapseSummary(kl_per_dim(mu, logvar), unit_activity(mu), threshold)


# ------------------------------------------------------------------------------------------------- experiments
def measure(model, images: torch.Tensor, labels: torch.Tensor | None = None, *, threshold: float = 0.01,
            seed: int = 0) -> dict:
    """Test figures of a trained model in nats per image: ``neg_elbo``, ``distortion`` (recon), ``rate`` (KL),
    ``active_units`` and ``kl_per_dim`` ((D,) tensor). The ELBO is :func:`vae_course.train.evaluate`'s (seeded)."""
    from .train import evaluate

    ev = evaluate(model, images, labels, seed=seed)
    summary = collapse_summary(model, images, labels, threshold=threshold)
    return {"neg_elbo": ev["loss"], "distortion": ev["recon"], "rate": ev["kl"], "active_units": summary.active,
            "latent_dim": summary.latent_dim, "kl_per_dim": summary.kl_per_dim}


def beta_sweep(betas, train_images: torch.Tensor, test_images: torch.Tensor, *, latent_dim: int = 16,
               epochs: int = 6, seed: int = 0, progress: bool = False, **fit_kwargs) -> list[dict]:
    """Train one reference MLP VAE (784-400-``latent_dim``) per ``beta`` from the same seed; measure each on the test set.

    Returns one dict per beta: ``beta`` and :func:`measure`'s figures, plus ``model`` and ``history``.
    """
    from .models import VAE
    from .train import fit

    rows = []
    for beta in betas:
        torch.manual_seed(seed)
        model = VAE(latent_dim=latent_dim)
        hist = fit(model, train_images, test_images, epochs=epochs, beta=float(beta), seed=seed, progress=progress,
                   **fit_kwargs)
        rows.append({"beta": float(beta), **measure(model, test_images, seed=seed), "model": model, "history": hist})
    return rows


def _require_binary(images: torch.Tensor, name: str) -> None:
    if not isinstance(images, torch.Tensor) or not bool(((images == 0) | (images == 1)).all()):
        raise ValueError(f"{name} must hold binary images (0s and 1s), e.g. load_mnist('test', binarize='static'): "
                         f"the autoregressive decoder's negative ELBO bounds -log p(x) of binary images only.")


def collapse_run(name: str, train_images: torch.Tensor, test_images: torch.Tensor, *, epochs: int,
                 latent_dim: int = 16, seed: int = 0, progress: bool = False, binarize: str | None = "dynamic",
                 **fit_kwargs) -> dict:
    """Train notebook 09's :class:`~vae_course.models.AutoregressiveVAE` with ``fit(**fit_kwargs)`` (e.g. ``lr=``,
    ``kl_warmup_epochs=`` or ``free_bits=``) and measure it: ``run`` (= ``name``), :func:`measure`'s figures,
    ``model`` and ``history``.

    The decoder's context is the previous pixels, so it is trained on binary images (by default a fresh
    binarization of ``train_images`` every batch, ``binarize="dynamic"``; pass ``None`` for images that are binary
    already) and measured on binary ``test_images``: every figure is then a bound on -log p(x) of binary images.
    """
    from .models import AutoregressiveVAE
    from .train import fit

    _require_binary(test_images, "test_images")
    if binarize is None:
        _require_binary(train_images, "train_images (binarize=None)")
    torch.manual_seed(seed)
    model = AutoregressiveVAE(latent_dim=latent_dim)
    hist = fit(model, train_images, test_images, epochs=epochs, seed=seed, progress=progress, binarize=binarize,
               **fit_kwargs)
    return {"run": name, **measure(model, test_images, seed=seed), "model": model, "history": hist}


def remedy_runs(train_images: torch.Tensor, test_images: torch.Tensor, *, epochs: int, warmup_epochs: float,
                free_bits: float, lr: float = 8e-3, latent_dim: int = 16, seed: int = 0,
                progress: bool = False, binarize: str | None = "dynamic") -> list[dict]:
    """The three runs of notebook 09's collapse experiment (no remedy, KL warm-up, free bits), from the same seed.

    The defaults are notebook 09's setting: dynamically binarized training images and Adam with ``lr = 8e-3``, the
    step size at which the code collapses within 6 epochs (at 2e-3 it does not yet; notebook 09 shows both).
    """
    common = dict(epochs=epochs, lr=lr, latent_dim=latent_dim, seed=seed, progress=progress, binarize=binarize)
    return [collapse_run("no remedy", train_images, test_images, **common),
            collapse_run(f"KL warm-up ({warmup_epochs:g} epoch{'' if warmup_epochs == 1 else 's'})", train_images,
                         test_images, kl_warmup_epochs=warmup_epochs, **common),
            collapse_run(f"free bits ({free_bits:g} nats/dim)", train_images, test_images, free_bits=free_bits,
                         **common)]


def markdown_table(rows: list[dict], columns: dict[str, str], digits: int = 2) -> str:
    """A markdown table of ``rows`` (dicts); ``columns`` maps each key to its header. Floats get ``digits`` decimals."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "|".join("---:" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row[k]) for k in columns) + " |" for row in rows]
    return "\n".join(lines)
