"""Training with the importance-weighted bound (Burda et al. 2015). The gradient's signal-to-noise ratio as k grows
is measured by :func:`vae_course.theory.gradient_snr`.

Used by notebook 08 (training with k = 1, 5 and 50) through ``fit(..., objective=IWAE(k))``, and by
:func:`vae_course.theory.gradient_snr`.

For one image, with ``z_1 .. z_k ~ q(z|x)`` drawn by the reparameterization and log-weights
``log w_j = log p(x|z_j) + log p(z_j) - log q(z_j|x)``, the bound is ``L_k = E[log (1/k) sum_j w_j]``. Two unbiased
estimates of it are offered:

* ``analytic_kl=False``: Burda et al.'s ``logsumexp_j(log w_j) - log k``. At k = 1 it is the ELBO with the KL
  estimated by sampling.
* ``analytic_kl=True`` (default): the same estimate plus a term of mean zero, ``mean_j log(q/p)(z_j) - KL(q || p)``::

      L_k_hat = [ mean_j log p(x|z_j) - KL(q || p(z)) ] + [ logsumexp_j(log w_j - mean_i log w_i) - log k ]

  The first bracket is the course's ELBO (closed-form KL, notebook 03) averaged over the k samples; the second is
  exactly 0 at k = 1. So at k = 1 this objective IS the default objective of :func:`vae_course.training.fit`, and it
  draws its noise the same way (``model.reparameterize`` on ``(k * B, D)`` codes): training with it equals ELBO
  training step for step on a fixed seed. For k > 1 it is unbiased for ``L_k`` and for its gradient too (the added
  term has mean 0 for every phi, so its gradient has mean 0).

The returned :class:`~vae_course.objectives.ELBOTerms` have ``total = -L_k_hat`` (what ``fit`` minimises); ``recon`` and
``kl`` are the k-sample average of ``-log p(x|z_j)`` and the closed-form KL, so ``fit``'s reported train and test
losses stay the negative ELBO (recon + KL), comparable with ELBO training.

References:
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016 (arXiv:1509.00519).
    Rainforth, Kosiorek, Le, Maddison, Igl, Wood & Teh, "Tighter Variational Bounds are Not Necessarily Better",
    ICML 2018 (arXiv:1802.04537): the encoder's gradient SNR falls like 1/sqrt(k), the decoder's rises like sqrt(k).
"""
from __future__ import annotations

import math

import torch

from .losses import ELBOTerms, gaussian_kl, reconstruction_nll
from .priors import diagonal_normal_log_prob


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k={k!r} must be a whole number of importance samples, at least 1.")
    return k


def iwae_terms(model, x: torch.Tensor, y: torch.Tensor | None = None, k: int = 1, *, likelihood: str = "bernoulli",
               sigma: float | torch.Tensor = 1.0, analytic_kl: bool = True, prior=None) -> ELBOTerms:
    """The k-sample importance-weighted objective of ``model`` on the batch ``x`` ``(B, ...)``, per image ``(B,)``.

    ``total`` is minus the estimate of ``L_k`` (see the module docstring for the two estimates). ``prior``: a learned
    prior (:mod:`vae_course.objectives.priors`) whose ``log_prob(z)`` replaces the standard normal's in the
    log-weights; then ``kl`` is the k-sample average of ``log q(z_j|x) - log p(z_j)`` and the estimate is Burda et
    al.'s plain one (``analytic_kl`` needs the standard normal's closed-form KL).
    """
    k = _check_k(k)
    extra = () if y is None else (y,)
    mu, logvar = model.encode(x, *extra)  # (B, D) each
    b, d = mu.shape
    mu_k = mu.unsqueeze(0).expand(k, b, d).reshape(k * b, d)  # (k*B, D): sample j of image i at row j*B + i
    logvar_k = logvar.unsqueeze(0).expand(k, b, d).reshape(k * b, d)
    z = model.reparameterize(mu_k, logvar_k)  # (k*B, D); at k = 1 the very draw of fit's default objective
    extra_k = () if y is None else (y.repeat(k),)
    x_k = x.reshape(b, -1).repeat(k, 1)  # (k*B, 784), the same order as the codes
    context = {"context": x_k} if getattr(model, "decoder_sees_x", False) else {}
    logits = model.decode_logits(z, *extra_k, **context)  # (k*B, 784)
    recon_k = reconstruction_nll(logits, x_k, likelihood, sigma).reshape(k, b)  # (k, B) = -log p(x|z_j)
    mu_f, logvar_f = mu_k.to(z.dtype), logvar_k.to(z.dtype)  # fit's mixed precision samples z in float32
    if prior is None:  # log q(z|x) - log p(z) per sample for p = N(0, I); the log(2 pi) terms cancel.
        log_ratio = (-0.5 * (logvar_f + (z - mu_f) ** 2 / logvar_f.exp()) + 0.5 * z ** 2).sum(-1).reshape(k, b)
    else:  # under a learned prior: log q(z|x) - log p(z), both in full
        log_ratio = (diagonal_normal_log_prob(z, mu_f, logvar_f) - prior.log_prob(z)).reshape(k, b)
    log_w = -recon_k - log_ratio  # (k, B)
    recon = recon_k.mean(0)  # (B,)
    if prior is not None:
        return ELBOTerms(recon, log_ratio.mean(0), -(torch.logsumexp(log_w, dim=0) - math.log(k)))
    kl = gaussian_kl(mu, logvar)  # (B,)
    if analytic_kl:
        bound = (-recon - kl) + (torch.logsumexp(log_w - log_w.mean(0), dim=0) - math.log(k))
    else:
        bound = torch.logsumexp(log_w, dim=0) - math.log(k)
    return ELBOTerms(recon, kl, -bound)


def iwae_objective(k: int, *, likelihood: str = "bernoulli", sigma: float | torch.Tensor = 1.0,
                   analytic_kl: bool = True):
    """A plain objective ``(model, x, y) -> ELBOTerms`` for :func:`vae_course.training.fit` that trains on the bound
    ``L_k`` (the function form of :class:`vae_course.objectives.IWAE`).

    >>> history = fit(model, train_x, objective=iwae_objective(5))     # doctest: +SKIP
    """
    k = _check_k(k)

    def loss_fn(model, x, y=None):
        return iwae_terms(model, x, y, k, likelihood=likelihood, sigma=sigma, analytic_kl=analytic_kl)

    loss_fn.k = k
    loss_fn.__name__ = f"iwae_objective_k{k}"
    return loss_fn
