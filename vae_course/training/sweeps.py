"""The experiments that train several models: notebook 09's beta sweep and collapse runs, notebook 07's likelihood
table.

Used by notebooks 07 and 09, ``benchmarks/beta_sweep.py`` and ``benchmarks/likelihood_table.py``.

* :func:`beta_sweep` trains one MLP VAE per beta (``ELBO(beta=beta)``) from the same seed; :func:`collapse_run` /
  :func:`remedy_runs` train the autoregressive-decoder VAE with and without remedies (``ELBO(warmup_epochs=...)``,
  ``ELBO(free_bits=...)``). Each run is measured with :func:`vae_course.evaluation.measure` and keeps every test
  image's score (``per_image``), so runs of several seeds can be compared image by image; with ``cache=`` a run is
  stored in the checkpoint folder and loaded next time (:func:`vae_course.training.load_or_train_run`).
* :func:`likelihood_table`: the same network trained the same epochs under each likelihood of :data:`TABLE_SETUPS`,
  scored on the test set; :class:`LikelihoodRow` is one row and :func:`format_table` prints them.
"""
from __future__ import annotations

import time
from pathlib import Path
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..data import load_mnist
from ..evaluation.collapse import measure
from ..evaluation.likelihoods import LearnedSigmaGaussian
from ..models import VAE, AutoregressiveVAE
from ..objectives import ELBO
from ..objectives.losses import model_elbo
from .fit_loop import History, fit
from .runs import call_fit, load_or_train_run, per_image_elbo, run_key


def _measured(model, test_images: torch.Tensor, seed: int) -> dict:
    """:func:`measure`'s figures plus the per-image test scores (``per_image``: -ELBO, recon and KL, each (N,))."""
    return {**measure(model, test_images, seed=seed), "per_image": per_image_elbo(model, test_images, seed=seed)}


def _cached_or_trained(cache: str | None, name: str, key: dict, train, test_images, seed: int, folder=None):
    """Train (or, with ``cache``, load) one run; returns ``(model, history, scores, run)``."""
    score = lambda model: _measured(model, test_images, seed)  # noqa: E731
    if cache is None:
        model, hist = train()
        model = model.cpu().eval()
        return model, hist, score(model), None
    run = load_or_train_run(f"{cache}_{name}", key, train, score, history_type=History, folder=folder)
    return run.model, run.history, run.scores, run


def beta_sweep(betas, train_images: torch.Tensor, test_images: torch.Tensor, *, latent_dim: int = 16,
               epochs: int = 6, seed: int = 0, lr: float = 1e-3, binarize: str | None = None,
               progress: bool = False, cache: str | None = None, folder=None) -> list[dict]:
    """Train one reference MLP VAE (784-400-``latent_dim``) per ``beta`` with ``ELBO(beta=beta)`` from the same
    seed and measure each on the test set.

    Returns one dict per beta: ``beta``, :func:`measure`'s figures, ``per_image`` (the test images' -ELBO, recon and
    KL, each (N,), for paired differences), ``model``, ``history`` and ``cached`` (True when loaded). With
    ``cache="nb09_sweep"`` each run is stored as ``nb09_sweep_beta<beta>_s<seed>.pt`` in the checkpoint folder and
    loaded from there next time (:func:`vae_course.training.load_or_train_run`).
    """
    rows = []
    for beta in betas:
        objective = ELBO(beta=float(beta))

        def train(objective=objective):
            torch.manual_seed(seed)
            model = VAE(latent_dim=latent_dim)
            return model, call_fit(model, train_images, test_images, objective=objective, epochs=epochs, lr=lr,
                                   seed=seed, binarize=binarize, progress=progress)

        torch.manual_seed(seed)
        key = run_key(VAE(latent_dim=latent_dim), train_images, test_images, objective=objective,
                      epochs=epochs, lr=lr, seed=seed, binarize=binarize)
        model, hist, scores, run = _cached_or_trained(cache, f"beta{float(beta):g}_s{seed}", key, train, test_images,
                                                      seed, folder)
        rows.append({"beta": float(beta), **scores, "model": model, "history": hist, "cached": run is not None
                     and not run.trained})
    return rows


def _require_binary(images: torch.Tensor, name: str) -> None:
    if not isinstance(images, torch.Tensor) or not bool(((images == 0) | (images == 1)).all()):
        raise ValueError(f"{name} must hold binary images (0s and 1s), e.g. load_mnist('test', binarize='static'): "
                         f"the autoregressive decoder's negative ELBO bounds -log p(x) of binary images only.")


def collapse_run(name: str, train_images: torch.Tensor, test_images: torch.Tensor, *, epochs: int, objective=None,
                 lr: float = 1e-3, latent_dim: int = 16, seed: int = 0, progress: bool = False,
                 binarize: str | None = "dynamic", cache: str | None = None, folder=None) -> dict:
    """Train notebook 09's :class:`~vae_course.models.AutoregressiveVAE` with ``fit(objective=objective, lr=lr)``
    (e.g. ``ELBO(warmup_epochs=1)`` or ``ELBO(free_bits=0.25)``; None is the plain negative ELBO) and measure it:
    ``run`` (= ``name``), :func:`measure`'s figures, ``per_image`` (each test image's -ELBO, recon and KL),
    ``model``, ``history`` and ``cached``.

    The decoder's context is the previous pixels, so it is trained on binary images (by default a fresh
    binarization of ``train_images`` every batch, ``binarize="dynamic"``; pass ``None`` for images that are binary
    already) and measured on binary ``test_images``: every figure is then a bound on -log p(x) of binary images.
    With ``cache="nb09_free_bits"`` the run is stored as ``nb09_free_bits_s<seed>.pt`` and loaded next time.
    """
    _require_binary(test_images, "test_images")
    if binarize is None:
        _require_binary(train_images, "train_images (binarize=None)")

    def train():
        torch.manual_seed(seed)
        model = AutoregressiveVAE(latent_dim=latent_dim)
        return model, call_fit(model, train_images, test_images, objective=objective, epochs=epochs, lr=lr,
                               seed=seed, binarize=binarize, progress=progress)

    torch.manual_seed(seed)
    key = run_key(AutoregressiveVAE(latent_dim=latent_dim), train_images, test_images,
                  objective=objective, epochs=epochs, lr=lr, seed=seed, binarize=binarize)
    model, hist, scores, run = _cached_or_trained(cache, f"s{seed}", key, train, test_images, seed, folder)
    return {"run": name, **scores, "model": model, "history": hist, "cached": run is not None and not run.trained}


def remedy_runs(train_images: torch.Tensor, test_images: torch.Tensor, *, epochs: int, warmup_epochs: float,
                free_bits: float, lr: float = 8e-3, latent_dim: int = 16, seed: int = 0,
                progress: bool = False, binarize: str | None = "dynamic", cache: str | None = None) -> list[dict]:
    """The three runs of notebook 09's collapse experiment (no remedy, KL warm-up, free bits), from the same seed.

    The defaults are notebook 09's setting: dynamically binarized training images and Adam with ``lr = 8e-3``, the
    step size at which the code collapses within the first epoch (at 2e-3 it does not; notebook 09 shows both).
    With ``cache="nb09"`` the runs are stored as ``nb09_no_remedy_s<seed>.pt``, ``nb09_warmup_s<seed>.pt`` and
    ``nb09_free_bits_s<seed>.pt``, the names notebook 09 uses.
    """
    common = dict(epochs=epochs, lr=lr, latent_dim=latent_dim, seed=seed, progress=progress, binarize=binarize)
    tag = (lambda what: None if cache is None else f"{cache}_{what}")  # noqa: E731
    return [collapse_run("no remedy", train_images, test_images, cache=tag("no_remedy"), **common),
            collapse_run(f"KL warm-up ({warmup_epochs:g} epoch{'' if warmup_epochs == 1 else 's'})", train_images,
                         test_images, objective=ELBO(warmup_epochs=warmup_epochs), cache=tag("warmup"), **common),
            collapse_run(f"free bits ({free_bits:g} nats/dim)", train_images, test_images,
                         objective=ELBO(free_bits=free_bits), cache=tag("free_bits"), **common)]


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
    sigma: float | None = None  # the Gaussian's standard deviation s (mean over pixels when learned per pixel)
    seconds: float = 0.0
    model: nn.Module | None = field(default=None, repr=False)  # the trained VAE
    likelihood: str = "bernoulli"
    decoder_sigma: float | torch.Tensor = field(default=1.0, repr=False)  # what decoder_distribution needs
    test_scores: torch.Tensor | None = field(default=None, repr=False)  # (N,) each test image's negative ELBO
    n_train: int = 0  # training images
    seed: int = 0

    @property
    def bounds(self) -> str:
        """What the row's test ELBO is a lower bound on (notebook 07, section 2 for the BCE row on grey levels)."""
        if self.data.startswith("binary"):
            return "log p(b), b in {0,1}^784"
        if self.likelihood == "bernoulli":
            return "E_b[log p(b)], b ~ Bernoulli(g)"
        return f"log-density on {self.space}"


# name, likelihood, data, space, is_density, fixed s / "scalar" / "pixel" (s: the decoder's standard deviation,
# the ``sigma=`` argument in code; notebook 07 writes s because sigma is q's standard deviation)
TABLE_SETUPS = (
    ("Bernoulli", "bernoulli", "binary (static)", "{0,1}^784", True, None),
    ("Bernoulli", "bernoulli", "binary (dynamic)", "{0,1}^784", True, None),
    ("BCE (reference script)", "bernoulli", "grey levels", "[0,1]^784", False, None),
    ("continuous Bernoulli", "continuous_bernoulli", "grey levels", "[0,1]^784", True, None),
    ("Gaussian, s = 1", "gaussian", "grey levels", "R^784", True, 1.0),
    ("Gaussian, learned s", "gaussian", "grey levels", "R^784", True, "scalar"),
    ("Gaussian, learned s per pixel", "gaussian", "grey levels", "R^784", True, "pixel"),
)
_TABLE_TEST_SEED = 1  # the binary test images: one fixed draw, the same for every row and seed (and notebook 08)
_TABLE_CACHE_VERSION = 1


def _setup_key(setup) -> str:
    """A row's unique name: ``"Bernoulli / binary (static)"``."""
    return f"{setup[0]} / {setup[2]}"


def _pick_setups(setups):
    if setups is None:
        return list(TABLE_SETUPS)
    known = {_setup_key(s): s for s in TABLE_SETUPS}
    by_name = {}
    for s in TABLE_SETUPS:
        by_name.setdefault(s[0], []).append(s)
    picked = []
    for want in setups:
        if want in known:
            picked.append(known[want])
        elif want in by_name and len(by_name[want]) == 1:
            picked.append(by_name[want][0])
        else:
            names = ", ".join(repr(k) for k in known)
            raise ValueError(f"setup {want!r} is not a row of the table (or is ambiguous): use one of {names}.")
    return picked


@torch.no_grad()
def _per_image_terms(model, images: torch.Tensor, loss_fn, likelihood: str, sigma, seed: int,
                     batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Each test image's reconstruction term and KL (nats, float64 ``(N,)`` each), one reparameterized sample per image
    drawn from a seeded generator (the global one is left as it was)."""
    was_training = model.training
    model.eval()
    recon, kl = [], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for xb in images.split(batch_size):
            terms = (loss_fn(model, xb, None) if loss_fn is not None
                     else model_elbo(model, xb, likelihood=likelihood, sigma=sigma))
            recon.append(terms.recon.detach().double().cpu())
            kl.append(terms.kl.detach().double().cpu())
    model.train(was_training)
    return torch.cat(recon), torch.cat(kl)


def likelihood_table(epochs: int, *, train_limit: int | None = None, test_limit: int | None = None,
                     hidden_dim: int = 400, latent_dim: int = 20, batch_size: int = 128, lr: float = 1e-3,
                     sigma_lr: float = 1e-2, seed: int = 0, setups=None, cache: bool = False, folder=None,
                     progress: bool = False, verbose: bool = False) -> list[LikelihoodRow]:
    """Train the same ``VAE(784, hidden_dim, latent_dim)`` from the same initial weights under each likelihood of
    :data:`TABLE_SETUPS` for ``epochs`` epochs and score it on the test set.

    Binary rows train on statically binarized images (a draw seeded with ``seed``) or on a fresh draw every batch
    (dynamic) and are both tested on the same statically binarized test set (the draw seeded with 1, whatever
    ``seed``); the other rows train and test on grey levels. A learned s (the Gaussian's standard deviation) gets its
    own learning rate ``sigma_lr`` (with ``lr`` it would take thousands of steps to move). ``seed`` also sets the
    initial weights, the shuffling and the noise, so several seeds give the spread of a row across training runs.

    ``setups``: the rows to train, by name (``"BCE (reference script)"``) or as ``"name / data"``
    (``"Bernoulli / binary (static)"``); default all. ``cache=True`` keeps each trained row in ``folder`` (default
    :func:`vae_course.config.checkpoint_dir`) as ``likelihood_seed<seed>_<k>.pt`` and loads it on the next call with
    the same settings and training images (notebook 07), so a re-run costs seconds.

    Returns one :class:`LikelihoodRow` per setup (with the trained model and each test image's negative ELBO in
    ``test_scores``); the test ELBO is split into reconstruction and KL, one reparameterized sample per image.
    """
    from ..config import checkpoint_dir
    from ..objectives import ELBO
    from .pretrained import data_fingerprint

    picked = _pick_setups(setups)
    grey_train, _ = load_mnist("train", limit=train_limit)
    grey_test, _ = load_mnist("test", limit=test_limit)
    bin_train, _ = load_mnist("train", binarize="static", limit=train_limit, seed=seed)
    bin_test, _ = load_mnist("test", binarize="static", limit=test_limit, seed=_TABLE_TEST_SEED)
    common = dict(epochs=epochs, train_limit=train_limit, test_limit=test_limit, hidden_dim=hidden_dim,
                  latent_dim=latent_dim, batch_size=batch_size, lr=lr, sigma_lr=sigma_lr, seed=seed,
                  n_train=int(grey_train.shape[0]), n_test=int(grey_test.shape[0]),
                  fingerprint=data_fingerprint(grey_train), version=_TABLE_CACHE_VERSION)
    where = Path(folder) if folder is not None else (checkpoint_dir() if cache else None)

    torch.manual_seed(seed)
    init = VAE(hidden_dim=hidden_dim, latent_dim=latent_dim).state_dict()
    rows = []
    for name, likelihood, data, space, is_density, sigma in picked:
        k = TABLE_SETUPS.index((name, likelihood, data, space, is_density, sigma))
        key = {**common, "setup": _setup_key(TABLE_SETUPS[k])}
        path = where / f"likelihood_seed{seed}_{k}.pt" if (cache and where is not None) else None
        model = VAE(hidden_dim=hidden_dim, latent_dim=latent_dim)
        train_x, test_x = (bin_train, bin_test) if data == "binary (static)" else (
            (grey_train, bin_test) if data == "binary (dynamic)" else (grey_train, grey_test))
        stored = None
        if path is not None and path.is_file():
            try:
                stored = torch.load(path, map_location="cpu", weights_only=False)
            except Exception:  # noqa: BLE001 - an unreadable cache file is trained again
                stored = None
            if not isinstance(stored, dict) or stored.get("key") != key:
                stored = None
        start = time.perf_counter()
        if stored is not None:
            model.load_state_dict(stored["state_dict"])
            decoder_sigma, sigma_value = stored["decoder_sigma"], stored["sigma_value"]
            recon, kl, seconds = stored["recon"], stored["kl"], stored["seconds"]
        else:
            model.load_state_dict(init)
            kwargs = dict(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
            lik = None
            if sigma in ("scalar", "pixel"):  # an objective with its own parameters and step size
                lik = LearnedSigmaGaussian(per_pixel=sigma == "pixel", lr=sigma_lr)
                fit(model, train_x, objective=lik, **kwargs)
                decoder_sigma = lik.sigma().detach().clone()
                sigma_value = decoder_sigma.mean().item()
            else:
                decoder_sigma = 1.0 if sigma is None else sigma
                objective = ELBO(likelihood=likelihood, sigma=decoder_sigma,
                                 binarize="dynamic" if data == "binary (dynamic)" else None)
                fit(model, train_x, objective=objective, **kwargs)
                sigma_value = sigma
            model = model.cpu()
            recon, kl = _per_image_terms(model, test_x, lik, likelihood, decoder_sigma, seed)
            seconds = time.perf_counter() - start
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"key": key, "state_dict": model.state_dict(), "decoder_sigma": decoder_sigma,
                            "sigma_value": sigma_value, "recon": recon, "kl": kl, "seconds": seconds}, path)
        model.eval()
        scores = recon + kl  # (N,) negative ELBO per test image
        row = LikelihoodRow(name, data, space, is_density, -scores.mean().item(), recon.mean().item(),
                            kl.mean().item(), sigma_value, seconds, model, likelihood, decoder_sigma, scores,
                            int(grey_train.shape[0]), seed)
        rows.append(row)
        if verbose:
            print(f"  {name:36s} {data:17s} ELBO {row.test_elbo:10.2f}  ({row.seconds:.0f} s)", flush=True)
    return rows


def format_table(rows: list[LikelihoodRow], markdown: bool = True) -> str:
    """The rows as a markdown (or plain) table, nats per image: what each test ELBO bounds (:attr:`LikelihoodRow.bounds`),
    the test ELBO, its reconstruction ``-log p(x|z)`` and KL parts, and s (the decoder's standard deviation) for the
    Gaussian rows."""
    head = ["likelihood p(x|z)", "trained on", "test ELBO bounds", "test ELBO", "recon", "KL", "s"]
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
