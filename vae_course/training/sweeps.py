"""The experiments that train several models: notebook 09's beta sweep and collapse runs, notebook 07's likelihood
table.

Used by notebooks 07 and 09, ``benchmarks/beta_sweep.py`` and ``benchmarks/likelihood_table.py``.

* :func:`beta_sweep` trains one MLP VAE per beta from the same seed; :func:`collapse_run` / :func:`remedy_runs`
  train the autoregressive-decoder VAE with and without remedies (KL warm-up, free bits). Each run is measured with
  :func:`vae_course.evaluation.measure`.
* :func:`likelihood_table`: the same network trained the same epochs under each likelihood of :data:`TABLE_SETUPS`,
  scored on the test set; :class:`LikelihoodRow` is one row and :func:`format_table` prints them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..data import load_mnist
from ..evaluation.collapse import measure
from ..evaluation.likelihoods import LearnedSigmaGaussian
from ..evaluation.scores import evaluate
from ..models import VAE, AutoregressiveVAE
from .fit_loop import fit


def beta_sweep(betas, train_images: torch.Tensor, test_images: torch.Tensor, *, latent_dim: int = 16,
               epochs: int = 6, seed: int = 0, progress: bool = False, **fit_kwargs) -> list[dict]:
    """Train one reference MLP VAE (784-400-``latent_dim``) per ``beta`` from the same seed; measure each on the test
    set.

    Returns one dict per beta: ``beta`` and :func:`measure`'s figures, plus ``model`` and ``history``.
    """
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



# -------------------------------------------------------------------------------------------------------------------
# The likelihood table of notebook 07 and benchmarks/likelihood_table.py
# -------------------------------------------------------------------------------------------------------------------

@dataclass
class LikelihoodRow:
    """One row of the table: which decoder, on which data, and its test figures (nats per image)."""

    name: str
    data: str  # "binary (static)", "binary (dynamic)" or "grey levels"
    space: str  # the space the (pseudo-)density lives on
    is_density: bool
    test_elbo: float = float("nan")
    test_recon: float = float("nan")
    test_kl: float = float("nan")
    sigma: float | None = None  # the Gaussian's sigma (mean over pixels when learned per pixel)
    seconds: float = 0.0
    model: nn.Module | None = field(default=None, repr=False)  # the trained VAE
    likelihood: str = "bernoulli"
    decoder_sigma: float | torch.Tensor = field(default=1.0, repr=False)  # what decoder_distribution needs

    @property
    def bounds(self) -> str:
        """What the row's test ELBO is a lower bound on (notebook 07, section 2 for the BCE row on grey levels)."""
        if self.data.startswith("binary"):
            return "log p(b), b in {0,1}^784"
        if self.likelihood == "bernoulli":
            return "E_b[log p(b)], b ~ Bernoulli(g)"
        return f"log-density on {self.space}"


# name, likelihood, data, space, is_density, fixed sigma / "scalar" / "pixel"
TABLE_SETUPS = (
    ("Bernoulli", "bernoulli", "binary (static)", "{0,1}^784", True, None),
    ("Bernoulli", "bernoulli", "binary (dynamic)", "{0,1}^784", True, None),
    ("BCE (reference script)", "bernoulli", "grey levels", "[0,1]^784", False, None),
    ("continuous Bernoulli", "continuous_bernoulli", "grey levels", "[0,1]^784", True, None),
    ("Gaussian, sigma = 1", "gaussian", "grey levels", "R^784", True, 1.0),
    ("Gaussian, learned sigma", "gaussian", "grey levels", "R^784", True, "scalar"),
    ("Gaussian, learned sigma per pixel", "gaussian", "grey levels", "R^784", True, "pixel"),
)


def likelihood_table(epochs: int, *, train_limit: int | None = None, test_limit: int | None = None,
                     hidden_dim: int = 400, latent_dim: int = 20, batch_size: int = 128, lr: float = 1e-3,
                     sigma_lr: float = 1e-2, seed: int = 0, progress: bool = False,
                     verbose: bool = False) -> list[LikelihoodRow]:
    """Train the same ``VAE(784, hidden_dim, latent_dim)`` from the same initial weights under each likelihood of
    :data:`TABLE_SETUPS` for ``epochs`` epochs and score it on the test set.

    Binary rows train on statically binarized images (a fixed draw) or on a fresh draw every batch (dynamic) and
    are both tested on the same statically binarized test set; the other rows train and test on grey levels.
    A learned sigma gets its own learning rate ``sigma_lr`` (with ``lr`` it would take thousands of steps to move).
    Returns one :class:`LikelihoodRow` per setup (with the trained model), the test ELBO split into reconstruction
    and KL.
    """
    grey_train, _ = load_mnist("train", limit=train_limit)
    grey_test, _ = load_mnist("test", limit=test_limit)
    bin_train, _ = load_mnist("train", binarize="static", limit=train_limit, seed=seed)
    bin_test, _ = load_mnist("test", binarize="static", limit=test_limit, seed=seed + 1)

    torch.manual_seed(seed)
    init = VAE(hidden_dim=hidden_dim, latent_dim=latent_dim).state_dict()
    rows = []
    for name, likelihood, data, space, is_density, sigma in TABLE_SETUPS:
        model = VAE(hidden_dim=hidden_dim, latent_dim=latent_dim)
        model.load_state_dict(init)
        train_x, test_x = (bin_train, bin_test) if data == "binary (static)" else (
            (grey_train, bin_test) if data == "binary (dynamic)" else (grey_train, grey_test))
        kwargs = dict(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
        start = time.perf_counter()
        if sigma in ("scalar", "pixel"):
            lik = LearnedSigmaGaussian(per_pixel=sigma == "pixel")
            opt = torch.optim.Adam([{"params": model.parameters()}, {"params": lik.parameters(), "lr": sigma_lr}],
                                   lr=lr)
            fit(model, train_x, loss_fn=lik, optimizer=opt, **kwargs)
            ev = evaluate(model, test_x, loss_fn=lik, seed=seed)
            decoder_sigma = lik.sigma().detach()
            sigma_value = decoder_sigma.mean().item()
        else:
            decoder_sigma = 1.0 if sigma is None else sigma
            fit(model, train_x, likelihood=likelihood, sigma=decoder_sigma,
                binarize="dynamic" if data == "binary (dynamic)" else None, **kwargs)
            ev = evaluate(model, test_x, likelihood=likelihood, sigma=decoder_sigma, seed=seed)
            sigma_value = sigma
        row = LikelihoodRow(name, data, space, is_density, -ev["loss"], ev["recon"], ev["kl"], sigma_value,
                            time.perf_counter() - start, model, likelihood, decoder_sigma)
        rows.append(row)
        if verbose:
            print(f"  {name:36s} {data:17s} ELBO {row.test_elbo:10.2f}  ({row.seconds:.0f} s)", flush=True)
    return rows


def format_table(rows: list[LikelihoodRow], markdown: bool = True) -> str:
    """The rows as a markdown (or plain) table, nats per image: what each test ELBO bounds (:attr:`LikelihoodRow.bounds`),
    the test ELBO, its reconstruction ``-log p(x|z)`` and KL parts, and sigma for the Gaussian rows."""
    head = ["likelihood p(x|z)", "trained on", "test ELBO bounds", "test ELBO", "recon", "KL", "sigma"]
    lines = [[r.name, r.data, r.bounds, f"{r.test_elbo:.1f}", f"{r.test_recon:.1f}", f"{r.test_kl:.1f}",
              "" if r.sigma is None else f"{r.sigma:.3g}"] for r in rows]
    if markdown:
        out = ["| " + " | ".join(h.replace("|", "\\|") for h in head) + " |",
               "|" + "|".join("---" if i < 3 else "---:" for i in range(len(head))) + "|"]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(head)]

    def fmt(cells):  # text columns left-aligned, numbers right-aligned
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(c) for c in lines])
