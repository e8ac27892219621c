"""The beta-VAE and posterior collapse, measured: per-dimension KL, active units, a trained model's figures.

Used by notebooks 09 and 11 and ``benchmarks/beta_sweep.py``. The experiments that train the models (the beta sweep,
the collapse runs) are in :mod:`vae_course.training.sweeps`; the KL warm-up and free bits in
:mod:`vae_course.objectives.warmup`.

* :func:`active_units` counts the latent dimensions the encoder actually uses, with the covariance criterion of
  Burda et al. 2015: unit ``u`` is active when ``A_u = Cov_x( E_{q(u|x)}[u] ) > 0.01``. For a Gaussian encoder
  ``E_{q(u|x)}[u] = mu_u(x)``, so ``A_u`` is the variance of ``mu_u`` over the images.
* :func:`kl_per_dim` is ``KL(q(z_u|x) || N(0, 1))`` averaged over the images, one number per latent dimension
  (they add up to the model's KL, the "rate"). A collapsed dimension has a KL of about 0.
* :func:`measure` gives a trained model's test figures (negative ELBO, distortion, rate, active units), and
  :func:`markdown_table` prints rows of them.

References:
    Burda, Grosse & Salakhutdinov 2015, "Importance Weighted Autoencoders" (arXiv:1509.00519), section 5.2.
    Bowman et al. 2016, "Generating Sentences from a Continuous Space" (arXiv:1511.06349): KL annealing.
    Kingma et al. 2016, "Improved Variational Inference with Inverse Autoregressive Flow" (arXiv:1606.04934): free bits.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..objectives.checks import _check_scoring_inputs
from ..objectives.losses import gaussian_kl_per_dim
from ..objectives.warmup import _number
from .scores import evaluate


@torch.no_grad()
def posterior_params(model, images: torch.Tensor, labels: torch.Tensor | None = None, *,
                     batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's ``(mu, logvar)`` for every image, each ``(N, D)`` on the CPU (labels for a conditional model)."""
    _check_scoring_inputs(model, images, labels)
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
    ``active_units`` and ``kl_per_dim`` ((D,) tensor). The ELBO is :func:`vae_course.evaluation.evaluate`'s (seeded)."""
    ev = evaluate(model, images, labels, seed=seed)
    summary = collapse_summary(model, images, labels, threshold=threshold)
    return {"neg_elbo": ev["loss"], "distortion": ev["recon"], "rate": ev["kl"], "active_units": summary.active,
            "latent_dim": summary.latent_dim, "kl_per_dim": summary.kl_per_dim}


def markdown_table(rows: list[dict], columns: dict[str, str], digits: int = 2) -> str:
    """A markdown table of ``rows`` (dicts); ``columns`` maps each key to its header. Floats get ``digits`` decimals."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "|".join("---:" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row[k]) for k in columns) + " |" for row in rows]
    return "\n".join(lines)
