"""Notebook 14's cached runs: a diffusion model on binary MNIST trained on its ELBO, its bound on the binary test
images, and latent diffusion (a KL-regularized autoencoder with a tiny KL weight, then a diffusion model on its codes).

Used by notebook 14 (from VAEs to diffusion).

:class:`DiffusionRecipe` says what is trained: the denoiser's sizes, T, the epochs and the seed.
:func:`load_or_train_diffusion` trains it once with ``fit`` and :class:`DiffusionELBO` (the negative ELBO of
:mod:`vae_course.models.diffusion`, one random KL term per image, on a fresh binarization of every training batch as in
notebook 08) through :func:`vae_course.training.load_or_train_run`, the cached route of notebooks 09-15.
:func:`cached_diffusion_elbo` scores a trained model on binary test images (every term, per image) once and caches
the result under a fingerprint of the weights (:func:`vae_course.training.load_or_compute`).

:class:`LatentRecipe` is latent diffusion's recipe (Rombach et al. 2022): :func:`load_or_train_kl_autoencoder`
trains the course's MLP VAE with the KL weighted by ``beta`` (1e-6: an autoencoder with a nearly free code), and
:func:`load_or_train_latent_diffusion` a small eps-predicting denoiser on its codes, divided by their overall
standard deviation (latent diffusion's scale factor).

    >>> run = load_or_train_diffusion(diffusion_recipe())           # doctest: +SKIP
    >>> terms, how = cached_diffusion_elbo(run, test_bin[:2000])    # doctest: +SKIP

References: see :mod:`vae_course.models.diffusion` (Sohl-Dickstein et al. 2015, Ho et al. 2020, Kingma et al. 2021,
Rombach et al. 2022).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ..models.diffusion import (Diffusion, alpha_bar, bits_to_signs, decoder_term, elbo_terms, prior_term,
                                step_kl)
from ..models.mlp import VAE
from ..objectives.losses import ELBOTerms
from ..objectives.objective import ELBO
from .deeper import load_or_compute, weights_key
from .runs import load_or_fit, load_or_train_run, run_key


class DiffusionELBO:
    """The negative ELBO of a binary-data :class:`~vae_course.models.Diffusion` as ``fit``'s objective, one draw per
    image: the decoder term, the prior term, and (T - 1) times the KL term of one step t drawn uniformly from 2..T
    (an unbiased estimate of the sum of the T - 1 KL terms). ``binarize="dynamic"`` draws a fresh binary image from
    each grey-level training image every batch. ``precision`` as ``fit`` takes it (``"auto"``: bfloat16 products
    where the CPU has them natively)."""

    def __init__(self, binarize: str | None = "dynamic", precision: str = "auto"):
        if binarize not in (None, "dynamic"):
            raise ValueError(f"binarize={binarize!r}: use None or 'dynamic'.")
        self.binarize, self.precision = binarize, precision

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor | None = None) -> ELBOTerms:
        if not isinstance(model, Diffusion) or model.config.data != "binary":
            raise TypeError(f"DiffusionELBO trains a Diffusion model built with data='binary', got "
                            f"{type(model).__name__}.")
        if self.binarize == "dynamic" and model.training:
            x = torch.bernoulli(x)
        x0 = bits_to_signs(x).to(model.dtype)  # (B, 784) in {-1, 1}
        lam = model.schedule()
        steps = len(lam)
        t = torch.randint(2, steps + 1, (x0.shape[0],))  # (B,) one step per image
        kl = (steps - 1) * step_kl(model, x0, t, lam).float()
        recon = decoder_term(model, x0, lam).float()
        prior = prior_term(x0, float(alpha_bar(lam[-1]))).float()
        return ELBOTerms(recon, kl + prior, recon + kl + prior)


@dataclass(frozen=True)
class DiffusionRecipe:
    """Notebook 14's diffusion model on binary MNIST: an MLP denoiser 784-hidden x depth-784 with T steps."""

    hidden_dim: int = 1024
    depth: int = 2
    steps: int = 1000
    epochs: int = 15
    batch_size: int = 128
    lr: float = 1e-3  # Adam's rate at the first epoch, falling on a cosine to lr_final at the last
    lr_final: float = 1e-4
    seed: int = 0
    train_limit: int | None = None  # None: all 60,000 training images

    def __post_init__(self):
        for name in ("hidden_dim", "depth", "steps", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive whole number.")
        if self.steps < 2:
            raise ValueError(f"steps={self.steps!r} must be at least 2 (T noise levels).")

    def lr_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (from 1): ``lr`` at the first, ``lr_final`` at the last, a cosine between."""
        if self.epochs <= 1:
            return self.lr
        u = (epoch - 1) / (self.epochs - 1)
        return self.lr_final + 0.5 * (self.lr - self.lr_final) * (1 + math.cos(math.pi * u))

    def build(self) -> Diffusion:
        """The untrained denoiser (after ``torch.manual_seed(seed)``)."""
        torch.manual_seed(self.seed)
        return Diffusion(784, self.hidden_dim, self.depth, steps=self.steps)

    def describe(self) -> str:
        epochs = f"{self.epochs} epoch{'s' if self.epochs > 1 else ''}"
        rate = f"{self.lr:g}" + (f" falling to {self.lr_final:g}" if self.epochs > 1 else "")
        return (f"MLP denoiser 784-{'-'.join([str(self.hidden_dim)] * self.depth)}-784 with a time embedding, "
                f"T = {self.steps}, {epochs} (Adam, batch {self.batch_size}, rate {rate}), seed {self.seed}")


def diffusion_recipe(quick: bool | None = None, *, seed: int = 0) -> DiffusionRecipe:
    """The full recipe (15 epochs on all 60,000 training images), or a smoke test: 1 epoch on 512 images (quick)."""
    from ..config import is_quick

    if is_quick() if quick is None else quick:
        return DiffusionRecipe(hidden_dim=64, depth=2, steps=100, epochs=1, seed=seed, train_limit=512)
    return DiffusionRecipe(seed=seed)


def load_or_train_diffusion(recipe: DiffusionRecipe, *, progress: bool = False):
    """Load the recipe's cached run, or train it (``fit`` with :class:`DiffusionELBO`) and save it. Returns a
    :class:`vae_course.training.CachedRun`; its ``scores`` hold ``parameters`` (scoring is
    :func:`cached_diffusion_elbo`'s)."""
    from ..data import load_mnist
    from .fit_loop import History, fit

    if not isinstance(recipe, DiffusionRecipe):
        raise TypeError(f"recipe must be a DiffusionRecipe (see diffusion_recipe), got {type(recipe).__name__}.")
    train_x, _ = load_mnist("train", limit=recipe.train_limit)  # grey levels; binarized afresh every batch
    key = run_key(recipe.build(), train_x, epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                  seed=recipe.seed, recipe=asdict(recipe), objective_name="DiffusionELBO")

    def train():
        model = recipe.build()
        hist = fit(model, train_x, objective=DiffusionELBO(), epochs=recipe.epochs, batch_size=recipe.batch_size,
                   lr=recipe.lr_at, seed=recipe.seed, device="cpu", progress=progress)
        return model, hist

    name = f"nb14_diffusion_h{recipe.hidden_dim}x{recipe.depth}_T{recipe.steps}_{recipe.epochs}ep_s{recipe.seed}"
    return load_or_train_run(name, key, train, lambda m: {"parameters": m.num_parameters()}, history_type=History)


def cached_diffusion_elbo(run, test_bin: torch.Tensor, *, steps: int | None = None, terms: int | None = None,
                          seed: int = 0) -> tuple[dict, dict]:
    """Every term of the negative ELBO of a cached run's model on the binary images ``test_bin``
    (:func:`vae_course.models.diffusion.elbo_terms`), computed once and cached under a fingerprint of the weights:
    ``({"prior", "decoder", "kl", "t", "size", "total"}, {"loaded", "seconds"})``."""
    key = {"model": weights_key(run.model), "n": int(test_bin.shape[0]), "images": float(test_bin.double().sum()),
           "steps": steps, "terms": terms, "seed": seed}
    label = f"{run.name}_elbo_n{test_bin.shape[0]}_T{steps or run.model.config.steps}_K{terms or 'all'}"
    return load_or_compute(label, key, lambda: elbo_terms(run.model, test_bin, steps=steps, terms=terms, seed=seed))


@dataclass(frozen=True)
class LatentRecipe:
    """Latent diffusion on MNIST: a VAE 784-hidden-latent trained with KL weight ``beta`` (the autoencoder), then a
    denoiser latent-``diff_hidden`` x 2-latent trained on its codes for ``diff_epochs`` passes."""

    latent_dim: int = 16
    hidden_dim: int = 400
    beta: float = 1e-6
    ae_epochs: int = 10
    diff_hidden: int = 512
    diff_steps: int = 200
    diff_epochs: int = 30
    diff_batch: int = 256
    seed: int = 0
    train_limit: int | None = None

    def __post_init__(self):
        if isinstance(self.beta, bool) or not isinstance(self.beta, (int, float)) or not self.beta >= 0:
            raise ValueError(f"beta={self.beta!r} must be a number >= 0 (the KL's weight).")
        for name in ("latent_dim", "hidden_dim", "ae_epochs", "diff_hidden", "diff_steps", "diff_epochs",
                     "diff_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive whole number.")


def latent_recipe(quick: bool | None = None, *, beta: float = 1e-6, seed: int = 0) -> LatentRecipe:
    """The full recipe (VAE 784-400-16 for 10 epochs, a denoiser for 30 passes over the 60,000 codes), or a smoke
    test (quick)."""
    from ..config import is_quick

    if is_quick() if quick is None else quick:
        return LatentRecipe(hidden_dim=32, beta=beta, ae_epochs=1, diff_hidden=32, diff_steps=20, diff_epochs=1,
                            seed=seed, train_limit=512)
    return LatentRecipe(beta=beta, seed=seed)


def load_or_train_kl_autoencoder(recipe: LatentRecipe, train_x: torch.Tensor, test_x: torch.Tensor):
    """The course's MLP VAE trained on grey levels with ``ELBO(beta=recipe.beta)``, cached (:func:`load_or_fit`);
    ``scores`` hold ``loss``, ``recon`` and ``kl`` per test image."""
    return load_or_fit(f"nb14_klae_beta{recipe.beta:g}_z{recipe.latent_dim}_h{recipe.hidden_dim}_s{recipe.seed}",
                       lambda: VAE(784, recipe.hidden_dim, recipe.latent_dim), train_x, test_x,
                       epochs=recipe.ae_epochs, objective=ELBO(beta=recipe.beta), seed=recipe.seed)


def load_or_train_latent_diffusion(recipe: LatentRecipe, codes: torch.Tensor, name: str):
    """A denoiser (eps-prediction, Ho et al. 2020's plain loss ``||eps - epshat||^2`` at a uniformly drawn log-SNR)
    trained on ``codes`` (N, D) divided by their overall standard deviation, cached as ``name``. ``scores`` hold
    ``scale`` (that standard deviation: multiply samples by it) and ``losses`` (the mean loss of each pass)."""
    if not isinstance(codes, torch.Tensor) or codes.ndim != 2 or codes.shape[1] != recipe.latent_dim:
        raise ValueError(f"codes must be a (N, {recipe.latent_dim}) tensor of the autoencoder's codes.")
    codes = codes.detach().float()
    scale = float(codes.std())
    key = {"recipe": asdict(recipe), "n": int(codes.shape[0]), "codes": float(codes.double().sum()), "scale": scale}

    def build():
        torch.manual_seed(recipe.seed)
        return Diffusion(recipe.latent_dim, recipe.diff_hidden, 2, 32, recipe.diff_steps, data="continuous")

    def train():
        model = build()
        c = model.config
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(recipe.seed)
        data = codes / scale
        losses = []
        for _ in range(recipe.diff_epochs):
            order = torch.randperm(len(data), generator=gen)
            total = 0.0
            for s in range(0, len(data), recipe.diff_batch):
                x0 = data[order[s:s + recipe.diff_batch]]  # (B, D)
                lam = c.logsnr_min + (c.logsnr_max - c.logsnr_min) * torch.rand(len(x0), generator=gen)  # (B,)
                abar = torch.sigmoid(lam)[:, None]
                eps = torch.randn(x0.shape, generator=gen)
                xt = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
                loss = (model.net(xt, lam) - eps).pow(2).sum(-1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(x0)
            losses.append(total / len(data))
        model.eval()
        return model, None, losses

    trained: dict = {}

    def train_and_keep():
        model, history, losses = train()
        trained["losses"] = losses
        return model, history

    return load_or_train_run(name, key, train_and_keep, lambda m: {"scale": scale,
                                                                  "losses": trained.get("losses", [])})


def decode_codes(autoencoder, z: torch.Tensor) -> torch.Tensor:
    """The autoencoder's pixel means sigmoid(eta(z)) for codes ``z`` (n, D): ``(n, 1, 28, 28)``."""
    with torch.no_grad():
        return torch.sigmoid(autoencoder.decode_logits(z.float())).reshape(len(z), 1, 28, 28)

