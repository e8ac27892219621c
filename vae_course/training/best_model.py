"""The recipe that aims at Burda et al.'s importance-weighted autoencoder (IWAE, k = 50: 84.78 nats) in at most 30
minutes on 2 CPU cores: a :class:`~vae_course.models.DeepVAE` trained first with the ELBO, then with the
importance-weighted bound, its weights averaged along the way.

Used by ``benchmarks/best_model.py --recipe burda`` (issue 28 §2) and notebook 13 (§7, the best model beside Burda et
al.'s Table 1); notebook 08 keeps its own recipe
(:mod:`vae_course.training.deep_vae`), which this module does not change.

What the recipe (:class:`BurdaRecipe`) adds to notebook 08's (ELU MLPs, dynamic binarization, Adam with a cosine
learning-rate decay, bfloat16 products where the CPU has them, the decoder's output bias at the logit of the mean
image):

* **The importance-weighted bound** ``L_k`` (Burda et al. 2015) as the objective after ``elbo_epochs`` epochs of the
  ELBO: ``k`` decoder passes per image, so the cheap ELBO epochs come first and the tighter bound shapes the end.
* **The doubly reparameterized gradient** (DReG, Tucker et al. 2019) for the encoder (``estimator="dreg"``). For the
  log-weights ``log w_j = log p(x, z_j) - log q(z_j|x)`` with ``z_j = mu + sigma * eps_j`` and the normalized weights
  ``w~_j = w_j / sum_i w_i``, the IWAE gradient is ``sum_j w~_j d log w_j``. Its score-function part (through
  ``log q``'s own parameters) has mean zero, and the encoder's signal-to-noise ratio falls like ``1/sqrt(k)``
  (Rainforth et al. 2018); DReG replaces the encoder's gradient by ``sum_j w~_j^2 (d log w_j / d z_j)(d z_j / d phi)``,
  which has the same mean and does not lose its signal-to-noise ratio as ``k`` grows. The decoder's gradient is the
  IWAE one. In code: ``log q`` is computed with ``mu`` and ``sigma`` detached (only the path through ``z`` remains),
  the surrogate loss ``-sum_j w~_j log w_j`` (``w~`` detached) gives the decoder ``sum_j w~_j d log w_j``, and a hook
  on ``z`` multiplies its gradient by ``w~_j`` once more, which gives the encoder ``w~_j^2``.
* **Polyak averaging** (an exponential moving average of the weights, decay ``ema``): the saved and scored model is
  the average, not the last iterate.

Why this recipe: short research runs (issue 28 §2, one training seed each, so a hint, not a ranking or a claim): 540
CPU-seconds of training with one thread each, scored with -L_1000 on the first 1,000 binary test images (lower is
better; the averaged weights): ELBO throughout 86.14 (77 epochs); DReG k = 5 throughout 86.77 (32 epochs); ELBO for the
first half of the time then DReG k = 5, 85.59; ELBO for the first three quarters then DReG k = 5, 85.53. The averaged
weights scored 0.09 to 0.14 nats below the last iterate in all four runs. So the cheap ELBO epochs come first, the
importance-weighted bound last. The full recipe, 185 epochs of the ELBO then 55 of L_5 with the DReG gradient, spends
about 60% of its time on the ELBO: measured on 2 cores with bfloat16 products, an ELBO epoch of ``fit`` took 5.2 s and a
DReG k = 5 epoch 11.6 s, so about 27 minutes in all (1,600 s: about 4.5 times the ELBO epochs and 3 times the DReG
epochs of the research runs). Whether it reaches 84.78 nats is measured by ``benchmarks/best_model.py --recipe burda``,
not assumed here.

Scoring: :func:`score_bound` computes ``L_k`` per test image in float32 with
:func:`vae_course.evaluation.iwae_bound` (``k = 5000``: 5 x 10^7 decoder passes for the 10,000 test images, about
30 CPU-minutes with one thread, extrapolated from 100 images) and caches it under a fingerprint of the weights.

References:
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016 (arXiv:1509.00519), Table 1.
    Tucker, Lawson, Gu & Maddison, "Doubly Reparameterized Gradient Estimators for Monte Carlo Objectives",
    ICLR 2019 (arXiv:1810.04152).
    Rainforth et al., "Tighter Variational Bounds are Not Necessarily Better", ICML 2018 (arXiv:1802.04537).
    Roeder, Wu & Duvenaud, "Sticking the Landing: Simple, Lower-Variance Gradient Estimators for Variational
    Inference", NeurIPS 2017 (arXiv:1703.09194).
    Polyak & Juditsky 1992, "Acceleration of stochastic approximation by averaging".
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..models.deep import DeepVAE, DeepVAEConfig
from ..objectives.losses import ELBOTerms
from .deep_vae import cosine_lr, epoch_logger

ESTIMATORS = ("iwae", "dreg")
_ESTIMATOR_NAMES = {"iwae": "IWAE", "dreg": "DReG"}  # as the papers write them

# Burda, Grosse & Salakhutdinov 2015, Table 1, MNIST: test NLL <= -L_5000 (nats) on all 10,000 binary test images
BURDA_TABLE_1 = (("VAE, one stochastic layer", 86.76), ("VAE, two stochastic layers", 85.33),
                 ("IWAE (k=50), one stochastic layer", 84.78), ("IWAE (k=50), two stochastic layers", 82.90))


@dataclass(frozen=True)
class BurdaRecipe:
    """How the Burda-comparison model is trained: ``epochs`` in all, the first ``elbo_epochs`` with the ELBO, the
    rest with ``L_k`` (gradient ``estimator`` ``"dreg"`` or ``"iwae"``); ``ema`` is the weight average's decay."""

    hidden_dims: tuple[int, ...] = (512, 512)
    latent_dim: int = 32
    activation: str = "elu"
    epochs: int = 240
    elbo_epochs: int = 185
    k: int = 5
    estimator: str = "dreg"
    batch_size: int = 128
    lr: float = 1e-3
    lr_final: float = 1e-4  # cosine decay from lr to lr_final over all the epochs
    ema: float = 0.999
    train_limit: int | None = None  # None: every training image on disk (all 60,000)
    monitor_test: int = 1000  # test images scored after every epoch (single-sample ELBO of the raw weights)
    seed: int = 0
    precision: str = "auto"  # the training products: "auto" (bfloat16 where native), "fp32" or "bf16"

    def __post_init__(self):
        DeepVAEConfig(784, tuple(self.hidden_dims), self.latent_dim, self.activation)  # sizes checked there
        object.__setattr__(self, "hidden_dims", tuple(self.hidden_dims))
        for name in ("epochs", "k", "batch_size", "monitor_test"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive whole number.")
        for name in ("elbo_epochs", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r} must be a whole number >= 0.")
        if self.elbo_epochs > self.epochs:
            raise ValueError(f"elbo_epochs={self.elbo_epochs} is more than epochs={self.epochs}: the ELBO phase is "
                             f"the first part of the training, so use at most {self.epochs}.")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator={self.estimator!r} is not known: use 'dreg' or 'iwae'.")
        for name in ("lr", "lr_final"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise ValueError(f"{name}={value!r} must be a learning rate between 0 and 1, e.g. 1e-3.")
        if isinstance(self.ema, bool) or not isinstance(self.ema, (int, float)) or not 0 <= self.ema < 1:
            raise ValueError(f"ema={self.ema!r} must be a decay in [0, 1) (0: no weight averaging), e.g. 0.999.")
        if self.train_limit is not None and (isinstance(self.train_limit, bool) or not isinstance(self.train_limit, int)
                                             or self.train_limit <= 0):
            raise ValueError(f"train_limit={self.train_limit!r} must be a positive whole number or None (all images).")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision={self.precision!r} is not known: use 'auto', 'fp32' or 'bf16'.")

    def model_config(self) -> DeepVAEConfig:
        return DeepVAEConfig(784, tuple(self.hidden_dims), self.latent_dim, self.activation)

    def describe(self) -> str:
        sizes = "-".join(str(h) for h in self.hidden_dims)
        weighted = self.epochs - self.elbo_epochs
        return (f"DeepVAE 784-{sizes}-{self.latent_dim} {self.activation.upper()}, {self.elbo_epochs} epochs ELBO + "
                f"{weighted} epochs L_{self.k} ({_ESTIMATOR_NAMES[self.estimator]} gradient), batch {self.batch_size}, "
                f"cosine lr {self.lr:g} -> {self.lr_final:g}, weight average {self.ema:g}, seed {self.seed}")


def burda_recipe(quick: bool | None = None, *, seed: int = 0) -> BurdaRecipe:
    """The full recipe (about 27 minutes on 2 CPU cores: 185 ELBO epochs then 55 DReG k = 5 epochs, 112,560 steps),
    or a tiny one for quick mode (a smoke test)."""
    from ..config import is_quick

    if is_quick() if quick is None else quick:
        return BurdaRecipe(hidden_dims=(64,), latent_dim=8, epochs=2, elbo_epochs=1, k=3, lr=2e-3, lr_final=1e-3,
                           ema=0.9, train_limit=1024, monitor_test=100, seed=seed)
    return BurdaRecipe(seed=seed)


def weighted_terms(model, x: torch.Tensor, k: int, estimator: str = "dreg") -> ELBOTerms:
    """The importance-weighted objective on the binary batch ``x`` ``(B, 784)``, per image.

    ``recon`` and ``kl`` are the k-sample mean of ``-log p(x|z_j)`` and the closed-form KL (so ``recon + kl`` is the
    negative ELBO, what ``fit`` reports); ``total`` is what is minimised: ``-L_k`` (``"iwae"``), the DReG surrogate
    (``"dreg"``, whose value is ``-sum_j w~_j log w_j`` and whose gradient is the doubly reparameterized one), or the
    negative ELBO ``recon + kl`` (``"elbo"``). ``"stl"`` is DReG without its hook: the encoder gets ``w~_j`` once
    ("sticking the landing", Roeder et al. 2017), which is biased for ``k > 1``; notebook 13 uses it as the control
    that shows its DReG check can fail, never for training.
    """
    mu, logvar = model.encode(x)  # (B, D) each
    mu, logvar = mu.float(), logvar.float()  # bfloat16 under fit's mixed precision: z and log q in float32
    b, d = mu.shape
    std = torch.exp(0.5 * logvar)  # (B, D)
    eps = torch.randn(k, b, d, dtype=mu.dtype, device=mu.device)  # (k, B, D)
    z = mu + std * eps  # (k, B, D)
    if estimator in ("dreg", "stl"):  # log q through z only: its parameters' own (score) path is cut
        mu_c, logvar_c = mu.detach(), logvar.detach()
        log_q = (-0.5 * (z - mu_c) ** 2 / logvar_c.exp() - 0.5 * logvar_c).sum(-1)  # (k, B), without log(2 pi)/2
    else:
        log_q = (-0.5 * eps ** 2 - 0.5 * logvar).sum(-1)  # (k, B)
    logits = model.decode_logits(z.reshape(k * b, d)).float().reshape(k, b, -1)  # (k, B, 784)
    log_px = F.logsigmoid((2 * x.reshape(1, b, -1) - 1) * logits).sum(-1)  # (k, B): Bernoulli log p(x|z_j)
    log_pz = -0.5 * (z ** 2).sum(-1)  # (k, B), without log(2 pi)/2: it cancels against log q's
    log_w = log_px + log_pz - log_q  # (k, B)
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(-1)  # (B,)
    recon = -log_px.mean(0)  # (B,)
    if estimator == "elbo":  # the negative ELBO with the closed-form KL (k = 1: notebook 08's objective)
        return ELBOTerms(recon, kl, recon + kl)
    if estimator == "iwae":
        return ELBOTerms(recon, kl, -(torch.logsumexp(log_w, 0) - math.log(k)))
    w = torch.softmax(log_w.detach(), 0)  # (k, B) normalized weights w~_j
    if z.requires_grad and estimator == "dreg":
        z.register_hook(lambda grad: grad * w.unsqueeze(-1))  # the encoder's path gets w~_j twice: w~_j^2
    return ELBOTerms(recon, kl, -(w * log_w).sum(0))


class ELBOThenWeighted:
    """``fit``'s objective for :class:`BurdaRecipe`: the negative ELBO for the first ``elbo_steps`` optimizer steps,
    then :func:`weighted_terms` with ``k`` samples. Binarizes every training batch afresh (dynamic binarization)."""

    def __init__(self, k: int, elbo_steps: int, estimator: str = "dreg", precision: str = "auto"):
        self.k, self.elbo_steps, self.estimator, self.precision = k, elbo_steps, estimator, precision
        self.weighted = elbo_steps == 0

    def start_step(self, step: int, steps_per_epoch: int) -> float:
        self.weighted = step >= self.elbo_steps
        return 1.0

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor | None = None) -> ELBOTerms:
        x = x.reshape(x.shape[0], -1)
        if model.training:
            x = torch.bernoulli(x)
        if self.weighted:
            return weighted_terms(model, x, self.k, self.estimator)
        return weighted_terms(model, x, 1, "elbo")


class WeightAverage:
    """An exponential moving average of the weights, updated after every optimizer step (``fit`` callback).

    The decay grows as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so the first weights are soon
    forgotten. :meth:`copy_to` puts the averaged weights into a model.
    """

    def __init__(self, model, decay: float):
        self.decay, self.updates, self.pending = decay, 0, False
        self.average = [p.detach().clone() for p in model.parameters()]

    @torch.no_grad()
    def _update(self, model) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.average, [p.detach() for p in model.parameters()], 1 - d)
        self.updates += 1

    def on_step(self, model, epoch, step, steps_per_epoch, history) -> None:  # before a step: the last one is done
        if self.pending:
            self._update(model)
        self.pending = True

    def on_epoch_end(self, model, epoch, history) -> None:
        if self.pending:
            self._update(model)
        self.pending = False

    @torch.no_grad()
    def copy_to(self, model) -> None:
        for p, a in zip(model.parameters(), self.average):
            p.copy_(a)


def train_burda_model(recipe: BurdaRecipe, *, progress: bool = False, log_every: int = 0):
    """Train the recipe's :class:`DeepVAE` from scratch on dynamically binarized MNIST.

    Returns ``(model, history, seconds)``: the model holds the averaged weights (``ema > 0``); ``seconds`` is the
    wall time of the training (``fit``) alone. The history's test figures are single-sample negative ELBOs of the raw
    weights on the first ``recipe.monitor_test`` statically binarized test images.
    """
    from ..data import load_mnist
    from .fit_loop import fit

    train_x, _ = load_mnist("train", limit=recipe.train_limit)  # grey levels; binarized afresh every batch
    test_bin, _ = load_mnist("test", binarize="static", limit=recipe.monitor_test, seed=1)
    torch.manual_seed(recipe.seed)
    model = DeepVAE(hidden_dims=recipe.hidden_dims, latent_dim=recipe.latent_dim, activation=recipe.activation)
    model.init_output_bias(train_x)
    steps_per_epoch = math.ceil(train_x.shape[0] / recipe.batch_size)
    objective = ELBOThenWeighted(recipe.k, recipe.elbo_epochs * steps_per_epoch, recipe.estimator, recipe.precision)
    callbacks = []
    average = WeightAverage(model, recipe.ema) if recipe.ema > 0 else None
    if average is not None:
        callbacks.append(average)
    start = time.perf_counter()
    callbacks.append(epoch_logger(log_every, recipe.epochs))
    hist = fit(model, train_x, test_bin, objective=objective, epochs=recipe.epochs, batch_size=recipe.batch_size,
               lr=lambda epoch: cosine_lr(epoch, recipe), seed=recipe.seed, device="cpu", progress=progress,
               callbacks=callbacks)
    seconds = time.perf_counter() - start
    if average is not None:
        average.copy_to(model)
    return model.eval(), hist, seconds


def burda_checkpoint_path(recipe: BurdaRecipe) -> Path:
    """``<checkpoint_dir>/burda_vae_<sizes>_z<latent>_<elbo>e+<rest>e_k<k><estimator>_s<seed>.pt``."""
    from ..config import checkpoint_dir

    dims = "x".join(str(h) for h in recipe.hidden_dims)
    return checkpoint_dir() / (f"burda_vae_{dims}_z{recipe.latent_dim}_{recipe.elbo_epochs}e+"
                               f"{recipe.epochs - recipe.elbo_epochs}e_k{recipe.k}{recipe.estimator}_s{recipe.seed}.pt")


def load_or_train_burda_model(recipe: BurdaRecipe | None = None, *, progress: bool = False, log_every: int = 0):
    """Load the recipe's checkpoint if one was made with the same recipe and training set, else train and save it.

    Returns ``(model, history_dict, info)``; ``info`` has ``loaded``, ``seconds`` (the training's wall time from
    scratch, as measured when it was trained), ``threads``, ``steps``, ``precision`` and ``path``.
    """
    from ..data import load_mnist
    from .checkpoints import load_checkpoint, save_checkpoint

    recipe = recipe or burda_recipe()
    if not isinstance(recipe, BurdaRecipe):
        raise TypeError(f"recipe must be a BurdaRecipe (see burda_recipe()), got {type(recipe).__name__}.")
    path = burda_checkpoint_path(recipe)
    n_train = len(load_mnist("train", limit=recipe.train_limit)[0])  # 60,000 in full mode
    extra = _matching_extra(recipe, n_train)
    if extra is not None:
        model, history = load_checkpoint(path, recipe.model_config(), with_history=True)
        return model.eval(), history, {"loaded": True, "path": path.name,
                                       **{key: extra.get(key) for key in ("seconds", "threads", "steps", "precision")}}
    print(f"Training {recipe.describe()} on {n_train:,} images: no matching checkpoint yet. It is saved as "
          f"{path.name} and reused next time.", flush=True)
    model, hist, seconds = train_burda_model(recipe, progress=progress, log_every=log_every)
    steps = hist.epochs * math.ceil(n_train / recipe.batch_size)
    info = {"seconds": seconds, "threads": torch.get_num_threads(), "steps": steps, "precision": hist.precision}
    if hist.interrupted:  # never store a partial run under the full recipe's name
        print(f"Training stopped after {hist.epochs} of {recipe.epochs} epochs, so {path.name} is not written.",
              flush=True)
        return model, hist.as_dict(), {"loaded": False, "path": None, "interrupted": True, **info}
    save_checkpoint(model, path, hist, extra={"recipe": asdict(recipe), "train_images": n_train, **info})
    return model, hist.as_dict(), {"loaded": False, "path": path.name, **info}


def _matching_extra(recipe: BurdaRecipe, n_train: int) -> dict | None:
    """The stored ``extra`` of the recipe's checkpoint if it was made with this recipe and ``n_train`` images."""
    from .checkpoints import read_checkpoint

    path = burda_checkpoint_path(recipe)
    if not path.is_file():
        return None
    extra = read_checkpoint(path).get("extra") or {}
    if _same(extra.get("recipe"), asdict(recipe)) and extra.get("train_images") == n_train:
        return extra
    return None


def trained_burda_seeds(seeds, quick: bool | None = None) -> list[int]:
    """Those of ``seeds`` whose :func:`burda_recipe` checkpoint exists and matches (nothing is trained): notebook 13
    trains seed 0 itself and adds the seeds that ``benchmarks/best_model.py --recipe burda --seeds ...`` trained."""
    from ..data import load_mnist

    recipes = [burda_recipe(quick, seed=seed) for seed in seeds]
    if not recipes:
        return []
    n_train = len(load_mnist("train", limit=recipes[0].train_limit)[0])
    return [r.seed for r in recipes if _matching_extra(r, n_train) is not None]


def burda_differences(recipe: BurdaRecipe, *, train_images: int, k: int, test_images: int) -> list[str]:
    """What still differs from Burda et al.'s one-layer IWAE, one line each, their setting first (from their paper and
    code, github.com/yburda/iwae): architecture, epochs, batch size, learning rate, objective, data, test bound."""
    sizes = "-".join(str(h) for h in recipe.hidden_dims)
    return [
        f"architecture: 784-200-200-50 tanh, Gaussian q, Bernoulli p / 784-{sizes}-{recipe.latent_dim} "
        f"{recipe.activation.upper()}, the same families",
        f"epochs: 3,280 / {recipe.epochs} ({recipe.elbo_epochs} with the ELBO, then "
        f"{recipe.epochs - recipe.elbo_epochs} with L_{recipe.k})",
        f"batch size: 20 / {recipe.batch_size}",
        f"learning rate: Adam 1e-3 * 10^(-i/7) in 8 stages of 3^i epochs (i = 0..7) / Adam, cosine {recipe.lr:g} -> "
        f"{recipe.lr_final:g}, weights averaged (decay {recipe.ema:g})",
        f"training objective: L_50 with the IWAE gradient / the ELBO, then L_{recipe.k} with the "
        f"{_ESTIMATOR_NAMES[recipe.estimator]} gradient",
        f"training images: 59,600 (400 kept for validation) / {train_images:,}",
        f"test bound: k = 5000 on all 10,000 images / k = {k} on "
        f"{'all' if test_images == 10_000 else 'the first'} {test_images:,} images",
    ]


def score_bound(model, test_bin: torch.Tensor, k: int = 5000, *, seed: int = 0, name: str | None = None):
    """``L_k`` of every image of ``test_bin`` (binary), float32 arithmetic, ``(N,)`` float64 nats; cached as
    ``<checkpoint_dir>/<name>_L<k>_n<N>.pt`` under a fingerprint of the weights when ``name`` is given.

    Returns ``(bounds, {"loaded", "seconds"})``; ``-bounds.mean()`` is the test NLL bound.
    """
    from ..evaluation.iwae import iwae_bound
    from .deeper import load_or_compute, weights_key

    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"k={k!r} must be a positive whole number of importance samples, e.g. 5000.")
    if not isinstance(test_bin, torch.Tensor) or test_bin.ndim < 2 or test_bin.shape[0] == 0:
        raise ValueError("test_bin must be a non-empty tensor of binary test images, e.g. "
                         "load_mnist('test', binarize='static', seed=1)[0].")

    def compute():
        model.float()
        gen = torch.Generator().manual_seed(seed)
        # 20 images x 200 samples = 4,000 decoder rows a pass: the (rows, 784) tensors stay in the CPU's cache,
        # about 20% faster than iwae_bound's default of 20,000 rows (measured, one thread); the same arithmetic
        return {"bound": iwae_bound(model, test_bin, k, batch_size=20, chunk=200, generator=gen).double()}

    if name is None:
        start = time.perf_counter()
        out = compute()
        return out["bound"], {"loaded": False, "seconds": time.perf_counter() - start}
    key = {"model": weights_key(model), "k": k, "n": int(test_bin.shape[0]), "seed": seed,
           "images": float(test_bin.double().sum())}
    out, info = load_or_compute(f"{name}_L{k}_n{test_bin.shape[0]}", key, compute)
    return out["bound"], info


def _same(a, b) -> bool:
    if not isinstance(a, dict) or not isinstance(b, dict) or a.keys() != b.keys():
        return False
    norm = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
    return all(norm(a[key]) == norm(b[key]) for key in a)
