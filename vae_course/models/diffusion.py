"""A discrete-time diffusion model as a hierarchical VAE with a fixed encoder, for binary images and for latent codes.

Used by notebook 14 (from VAEs to diffusion); trained and cached by :mod:`vae_course.training.diffusion`.

The encoder is fixed: ``q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, (1 - alpha_t) I)``, t = 1..T, so that
``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` with ``abar_t = prod_{s<=t} alpha_s``. (Diffusion papers write
beta_t for the step's noise variance 1 - alpha_t; the course keeps beta for notebook 09's KL weight, which notebook 14
uses too, so its text writes 1 - alpha_t; :func:`betas_from_alpha_bar` keeps the papers' name for that variance.)
The schedule is set by the log signal-to-noise ratio ``lambda_t = log(abar_t / (1 - abar_t))``, linear in t from
``logsnr_max`` (t = 1) to ``logsnr_min`` (t = T), so a different T only changes how finely the same path is cut
(Kingma et al. 2021).

The decoder, for t = T..2, is ``p(x_{t-1} | x_t) = q(x_{t-1} | x_t, x_0 = xhat_0(x_t, t))``: the true posterior with
the network's estimate of x_0 in place of x_0 (same variance). Binary images are mapped to x_0 = 2b - 1 in {-1, 1}^784
and the network outputs Bernoulli logits eta over b, so ``xhat_0 = E[x_0] = tanh(eta / 2)``; the logits start from the
exact answer for a single pixel with no neighbours, ``2 sqrt(abar_t) x_t / (1 - abar_t)``, and the MLP adds what the
other pixels tell. At t = 1 the same logits give ``p(b | x_1) = Bernoulli(sigmoid(eta))``, so the negative ELBO is an
upper bound on -log p(b) of binary images, in nats::

    -ELBO = KL(q(x_T|x_0) || N(0, I))                                          prior term   (closed form, no network)
          + sum_{t=2}^T E_q(x_t|x_0) KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t))   T - 1 Gaussian KL terms
          + E_q(x_1|x_0) [-log p(b | x_1)]                                      decoder term (Bernoulli)

    KL_t = 1/2 (SNR_{t-1} - SNR_t) ||x_0 - xhat_0(x_t, t)||^2,  SNR_t = abar_t / (1 - abar_t).

For continuous data (a latent autoencoder's codes, ``data="continuous"``) the network predicts the noise eps instead
(Ho et al. 2020) and is trained on ``||eps - epshat||^2``; only its samples are used.

    net input: x_t (B, n) and lambda_t (B,) -> sinusoidal features (B, F) -> MLP (B, H) added to each hidden layer
    x_t (B, n) -> [Linear + time -> SiLU] x depth (B, H) -> Linear (B, n): logits correction (binary) or epshat

References:
    Sohl-Dickstein, Weiss, Maheswaranathan & Ganguli, "Deep Unsupervised Learning using Nonequilibrium
    Thermodynamics", ICML 2015 (arXiv:1503.03585): the fixed forward chain and its variational bound.
    Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020 (arXiv:2006.11239): q(x_t|x_0),
    the posterior q(x_{t-1}|x_t,x_0), eps-prediction, ancestral sampling.
    Kingma, Salimans, Poole & Ho, "Variational Diffusion Models", NeurIPS 2021 (arXiv:2107.00630): the bound in
    terms of the SNR, KL_t = 1/2 (SNR_{t-1} - SNR_t) ||x - xhat||^2, and discrete data.
    Rombach, Blattmann, Lorenz, Esser & Ommer, "High-Resolution Image Synthesis with Latent Diffusion Models", CVPR
    2022 (arXiv:2112.10752): a KL-regularized autoencoder with a tiny KL weight, then diffusion on its codes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import register_model

DATA_KINDS = ("binary", "continuous")


def _check_schedule_args(steps, logsnr_max, logsnr_min) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps={steps!r} must be a whole number >= 2 (T, the number of noise levels).")
    if not (math.isfinite(logsnr_max) and math.isfinite(logsnr_min) and logsnr_max > logsnr_min):
        raise ValueError(f"logsnr_max={logsnr_max!r} must be finite and larger than logsnr_min={logsnr_min!r}: the "
                         f"noise grows with t, so the SNR falls.")


def logsnr_schedule(steps: int, logsnr_max: float = 6.0, logsnr_min: float = -10.0) -> torch.Tensor:
    """lambda_t = log SNR_t for t = 1..T, linear from ``logsnr_max`` to ``logsnr_min``: ``(T,)`` float64."""
    _check_schedule_args(steps, logsnr_max, logsnr_min)
    return torch.linspace(logsnr_max, logsnr_min, steps, dtype=torch.float64)


def alpha_bar(logsnr: torch.Tensor) -> torch.Tensor:
    """abar = SNR / (1 + SNR) = sigmoid(lambda): the signal's share of the variance of x_t."""
    return torch.sigmoid(logsnr)


def betas_from_alpha_bar(abar: torch.Tensor) -> torch.Tensor:
    """1 - alpha_t = 1 - abar_t / abar_{t-1} (abar_0 = 1): the per-step noise variances of the forward chain, ``(T,)``
    (the papers' beta_t; notebook 14 writes 1 - alpha_t, beta being the KL weight of notebook 09)."""
    prev = torch.cat([abar.new_ones(1), abar[:-1]])
    return 1 - abar / prev


def forward_marginal(x0: torch.Tensor, alphas: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """q(x_t | x_0) = N(mean, std^2 I): ``mean`` (B, n) and ``std`` (B, 1) for steps ``t`` (B,) in 1..T, given the
    per-step factors ``alphas`` (T,) (step t keeps alpha_t of the variance, adds noise of variance 1 - alpha_t)."""
    abar = torch.cumprod(alphas, 0)[t - 1].to(x0.dtype)  # (B,)
    return abar.sqrt()[:, None] * x0, (1 - abar).sqrt()[:, None]


def q_posterior(x0: torch.Tensor, xt: torch.Tensor, abar_t: torch.Tensor,
                abar_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """q(x_{t-1} | x_t, x_0) = N(mean, var I): ``mean`` (B, n) and ``var`` (B, 1), for abar_t, abar_{t-1} (B,)."""
    beta = 1 - abar_t / abar_prev  # (B,)
    c0 = abar_prev.sqrt() * beta / (1 - abar_t)  # the weight of x_0
    ct = (1 - beta).sqrt() * (1 - abar_prev) / (1 - abar_t)  # the weight of x_t
    var = (1 - abar_prev) * beta / (1 - abar_t)
    return c0[:, None] * x0 + ct[:, None] * xt, var[:, None]


def time_features(logsnr: torch.Tensor, n: int) -> torch.Tensor:
    """Sinusoidal features of lambda (B,) -> (B, n), on the scale lambda / 16 (one period over the schedule)."""
    freqs = torch.exp(torch.linspace(0, math.log(200.0), n // 2, dtype=logsnr.dtype, device=logsnr.device))  # (n/2,)
    angle = (logsnr / 16)[:, None] * freqs  # (B, n/2)
    return torch.cat([angle.sin(), angle.cos()], 1)


@dataclass
class DiffusionConfig:
    """A denoiser on vectors of ``input_dim`` (784 pixels, or a latent code) and the schedule it is used with."""

    input_dim: int = 784
    hidden_dim: int = 1024
    depth: int = 3
    time_dim: int = 64
    steps: int = 200  # T: the discrete steps the ELBO and the sampler use (the network itself takes any lambda)
    logsnr_max: float = 6.0
    logsnr_min: float = -10.0
    data: str = "binary"

    def __post_init__(self):
        for name in ("input_dim", "hidden_dim", "depth", "time_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive whole number.")
        if self.time_dim % 2:
            raise ValueError(f"time_dim={self.time_dim!r} must be even (sine and cosine features).")
        _check_schedule_args(self.steps, self.logsnr_max, self.logsnr_min)
        if self.data not in DATA_KINDS:
            raise ValueError(f"data={self.data!r} is not known: use 'binary' (images in {{0, 1}}) or 'continuous' "
                             f"(latent codes).")


@register_model
class Diffusion(nn.Module):
    """The denoiser and its fixed encoder (see the module doc). ``xhat0(x_t, lambda)`` is the decoder's estimate."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = 1024, depth: int = 3, time_dim: int = 64,
                 steps: int = 200, logsnr_max: float = 6.0, logsnr_min: float = -10.0, data: str = "binary"):
        super().__init__()
        c = self.config = DiffusionConfig(input_dim, hidden_dim, depth, time_dim, steps, logsnr_max, logsnr_min, data)
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, hidden_dim), nn.SiLU())
        self.time_proj = nn.ModuleList(nn.Linear(hidden_dim, hidden_dim) for _ in range(depth))
        self.layers = nn.ModuleList(nn.Linear(input_dim if i == 0 else hidden_dim, hidden_dim) for i in range(depth))
        self.out = nn.Linear(hidden_dim, input_dim)
        nn.init.zeros_(self.out.weight)  # starts as the single-pixel answer (binary) or epshat = 0
        nn.init.zeros_(self.out.bias)

    @classmethod
    def from_config(cls, config: DiffusionConfig | dict) -> "Diffusion":
        c = config if isinstance(config, DiffusionConfig) else DiffusionConfig(**config)
        return cls(**asdict(c))

    def describe(self) -> dict:
        return {"model_class": type(self).__name__, "config": asdict(self.config)}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def schedule(self, steps: int | None = None) -> torch.Tensor:
        """lambda_t for t = 1..T (``steps`` defaults to the config's T): ``(T,)`` float64."""
        c = self.config
        return logsnr_schedule(c.steps if steps is None else steps, c.logsnr_max, c.logsnr_min)

    def encode(self, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed encoder's top layer for binary images ``b``: q(x_T | x_0) as (mean, logvar), each ``(B, n)``.
        Nothing here is learned, which is the point of notebook 14."""
        x0 = bits_to_signs(b).to(self.dtype)
        abar_T = alpha_bar(self.schedule()[-1]).to(x0.dtype)
        return abar_T.sqrt() * x0, torch.log1p(-abar_T).expand_as(x0)

    def net(self, xt: torch.Tensor, logsnr: torch.Tensor) -> torch.Tensor:
        """The MLP's output for x_t (B, n) at lambda (B,): ``(B, n)``."""
        if xt.ndim != 2 or xt.shape[1] != self.config.input_dim:
            raise ValueError(f"x_t has shape {tuple(xt.shape)}: the denoiser takes (B, {self.config.input_dim}).")
        emb = self.time_mlp(time_features(logsnr.to(xt.dtype), self.config.time_dim))  # (B, H)
        h = xt
        for layer, proj in zip(self.layers, self.time_proj):
            h = F.silu(layer(h) + proj(emb))  # (B, H)
        return self.out(h)

    def logits(self, xt: torch.Tensor, logsnr: torch.Tensor) -> torch.Tensor:
        """Binary data: the Bernoulli logits eta (B, n) of the bits b = (x_0 + 1) / 2 given x_t at lambda (B,)."""
        abar = torch.sigmoid(logsnr.to(xt.dtype))[:, None]  # (B, 1)
        single = 2 * abar.sqrt() * xt / (1 - abar)  # one pixel alone: log q(x_t|+1) - log q(x_t|-1)
        return single + self.net(xt, logsnr)

    def xhat0(self, xt: torch.Tensor, logsnr: torch.Tensor) -> torch.Tensor:
        """The estimate of x_0 that the decoder plugs into the posterior: ``(B, n)``."""
        if self.config.data == "binary":
            return torch.tanh(self.logits(xt, logsnr) / 2)  # E[x_0] under Bernoulli(sigmoid(eta)) on {-1, 1}
        abar = torch.sigmoid(logsnr.to(xt.dtype))[:, None]
        return (xt - (1 - abar).sqrt() * self.net(xt, logsnr)) / abar.sqrt()

    @torch.no_grad()
    def sample(self, n: int, *, steps: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral sampling: x_T ~ N(0, I), then x_{t-1} ~ p(x_{t-1}|x_t) for t = T..2. Binary data: the pixel
        means sigmoid(eta(x_1)) ``(n, 784)``; continuous data: x_1's xhat_0 ``(n, input_dim)``."""
        lam = self.schedule(steps)  # (T,)
        abar = alpha_bar(lam)
        x = torch.randn(n, self.config.input_dim, generator=generator, dtype=self.dtype)
        for t in range(len(lam), 1, -1):  # t = T..2 (index t - 1)
            lam_t = lam[t - 1].expand(n)
            mean, var = q_posterior(self.xhat0(x, lam_t), x, abar[t - 1].expand(n).to(x.dtype),
                                    abar[t - 2].expand(n).to(x.dtype))
            x = mean + var.sqrt() * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        if self.config.data == "binary":
            return torch.sigmoid(self.logits(x, lam[0].expand(n)))
        return self.xhat0(x, lam[0].expand(n))


def prior_term(x0: torch.Tensor, abar_T: float) -> torch.Tensor:
    """KL(q(x_T|x_0) || N(0, I)) per image ``(B,)``, in closed form (notebook 03's KL, summed over coordinates)."""
    abar_T = torch.as_tensor(abar_T, dtype=x0.dtype)
    logvar = torch.log1p(-abar_T).expand_as(x0)
    mu = abar_T.sqrt() * x0
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


def bits_to_signs(b: torch.Tensor) -> torch.Tensor:
    """Binary images (B, 1, 28, 28) or (B, 784) in {0, 1} -> x_0 = 2b - 1 in {-1, 1}, flattened ``(B, 784)``."""
    flat = b.reshape(b.shape[0], -1)
    if not bool(((flat == 0) | (flat == 1)).all()):
        raise ValueError("the diffusion bound is on binary images: pass images with pixels 0 or 1 (e.g. "
                         "load_mnist('test', binarize='static', seed=1)).")
    return 2 * flat - 1


def step_kl(model: Diffusion, x0: torch.Tensor, t: torch.Tensor, lam: torch.Tensor, *,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw of KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) with x_t ~ q(x_t|x_0), per image ``(B,)``; ``t`` (B,)
    in 2..T, ``lam`` the schedule (T,)."""
    lam = lam.to(x0.dtype)
    lam_t, lam_prev = lam[t - 1], lam[t - 2]  # (B,)
    abar = torch.sigmoid(lam_t)[:, None]
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    xt = abar.sqrt() * x0 + (1 - abar).sqrt() * eps  # (B, n)
    dsnr = lam_prev.exp() - lam_t.exp()  # SNR_{t-1} - SNR_t, (B,)
    return 0.5 * dsnr * (x0 - model.xhat0(xt, lam_t)).pow(2).sum(-1)


def decoder_term(model: Diffusion, x0: torch.Tensor, lam: torch.Tensor, *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw of -log p(b | x_1) with x_1 ~ q(x_1|x_0): a Bernoulli with the denoiser's logits at t = 1 ``(B,)``."""
    lam1 = lam[0].to(x0.dtype).expand(x0.shape[0])
    abar = torch.sigmoid(lam1)[:, None]
    x1 = abar.sqrt() * x0 + (1 - abar).sqrt() * torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    return F.binary_cross_entropy_with_logits(model.logits(x1, lam1), (x0 + 1) / 2, reduction="none").sum(-1)


def strata(steps: int, terms: int | None) -> list[torch.Tensor]:
    """The steps t = 2..T cut into ``terms`` consecutive groups of (nearly) equal size (``None``: one step each)."""
    all_t = torch.arange(2, steps + 1)
    if terms is None or terms >= steps - 1:
        return [all_t[i:i + 1] for i in range(steps - 1)]
    if isinstance(terms, bool) or not isinstance(terms, int) or terms < 1:
        raise ValueError(f"terms={terms!r} must be a positive whole number of KL terms per image (or None: all).")
    return list(torch.tensor_split(all_t, terms))


@torch.no_grad()
def elbo_terms(model: Diffusion, b: torch.Tensor, *, steps: int | None = None, terms: int | None = None,
               seed: int = 0, batch_size: int = 500) -> dict:
    """The negative ELBO of the binary images ``b`` (N, ...) term by term, in nats, each term with its own draw.

    ``terms=None`` computes all T - 1 KL terms of every image. ``terms=K`` cuts t = 2..T into K consecutive groups
    and draws one t per group and image, uniformly: ``size_k * KL_t`` is an unbiased estimate of the group's sum
    (stratified sampling), so ``total`` stays an unbiased estimate of the negative ELBO, with the draw of t inside
    each image's spread. Returns ``prior`` (N,), ``decoder`` (N,), ``kl`` (K, N): each group's estimated sum,
    ``t`` (K, N): the drawn steps, ``size`` (K,): the groups' sizes, and ``total`` (N,).
    """
    if model.config.data != "binary":
        raise ValueError("elbo_terms bounds -log p(b) of binary images: this denoiser was built with "
                         "data='continuous'.")
    x0_all = bits_to_signs(b).to(model.dtype)
    lam = model.schedule(steps)
    groups = strata(len(lam), terms)
    gen = torch.Generator().manual_seed(seed)
    prior, decoder, kls, ts = [], [], [], []
    for s in range(0, x0_all.shape[0], batch_size):
        x0 = x0_all[s:s + batch_size]
        n = x0.shape[0]
        prior.append(prior_term(x0, float(alpha_bar(lam[-1]))))
        decoder.append(decoder_term(model, x0, lam, generator=gen))
        t = torch.stack([g[torch.randint(len(g), (n,), generator=gen)] for g in groups])  # (K, n)
        kls.append(torch.stack([len(g) * step_kl(model, x0, t[k], lam, generator=gen) for k, g in enumerate(groups)]))
        ts.append(t)
    out = {"prior": torch.cat(prior).double(), "decoder": torch.cat(decoder).double(),
           "kl": torch.cat(kls, 1).double(), "t": torch.cat(ts, 1), "size": torch.tensor([len(g) for g in groups])}
    out["total"] = out["prior"] + out["decoder"] + out["kl"].sum(0)
    return out
