"""A linear-Gaussian toy with a vector latent, whose exact posterior is correlated: what a factorised q cannot do.

Used by notebooks 02 (the optimal mean-field q, its variances and its gap), 04 (a full-covariance q written as
z = mu + L eps, and its log-density by the change of variables) and 08 (the per-image optimiser reaches the best q of
its family, and no further).

The model, with a latent ``z`` in R^D and an observation ``x`` in R^M::

    z     ~ N(0, I_D)                    prior p(z)
    x | z ~ N(W z + b, s^2 I_M)          likelihood ("decoder"), W of shape (M, D)

Completing the square in z (derived in notebook 02, section 8) gives the exact posterior and the evidence::

    Lambda = I_D + W^T W / s^2                                 posterior precision (D, D)
    p(z|x) = N(z; Lambda^{-1} W^T (x - b) / s^2, Lambda^{-1})
    p(x)   = N(x; b, W W^T + s^2 I_M)

For a factorised ("mean-field") Gaussian ``q(z) = N(m, diag(v))``, with ``v`` the variances::

    KL(q || p(z|x)) = 1/2 [ sum_i Lambda_ii v_i + (m - mu)^T Lambda (m - mu) - D - log det Lambda - sum_i log v_i ]
    ELBO(q)         = log p(x) - KL(q || p(z|x))

is minimised at ``m = mu`` and ``v_i = 1 / Lambda_ii`` (Bishop 2006, section 10.1.2): the right means, but variances
that are smaller than the marginal variances ``(Lambda^{-1})_ii``. In two dimensions, with the posterior's correlation
``rho``, the ratio is ``1 - rho^2`` and the gap at the optimum is ``-1/2 log(1 - rho^2)`` nats.

Conventions as in :mod:`vae_course.theory.toy`: Python numbers become float64 tensors; ``x`` has shape ``(..., M)`` and
``z`` shape ``(..., D)``; variances are variances (``v``), not standard deviations.

References:
    Bishop, "Pattern Recognition and Machine Learning", 2006, sections 2.3.3 and 10.1.2 (figure 10.2).
    Kingma & Welling, "An Introduction to Variational Autoencoders", 2019 (arXiv:1906.02691), section 2.5.
"""
from __future__ import annotations

import math

import torch

from .toy import LOG_2PI, as_tensor

F64 = torch.float64


def log_normal_tril(z: torch.Tensor, mu: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, L L^T) for a lower-triangular ``L`` with a positive diagonal, by the change of variables.

    ``z = mu + L eps`` with ``eps ~ N(0, I)`` is invertible, ``eps = L^{-1} (z - mu)``, with Jacobian ``L``, so::

        log q(z) = log N(eps; 0, I) - log |det L| = -D/2 log(2 pi) - |eps|^2 / 2 - sum_j log |L_jj|

    Args:
        z: points ``(..., D)``; mu: the mean ``(..., D)`` (broadcasts); L: ``(D, D)`` lower-triangular.
    Returns:
        ``(...)`` log-densities in nats.
    """
    z, mu, L = as_tensor(z, "z"), as_tensor(mu, "mu"), as_tensor(L, "L")
    if L.ndim != 2 or L.shape[0] != L.shape[1] or z.shape[-1] != L.shape[0]:
        raise ValueError(f"expected z (..., D) and a square L (D, D), got z {tuple(z.shape)} and L {tuple(L.shape)}.")
    diff = (z - mu).unsqueeze(-1)  # (..., D, 1)
    eps = torch.linalg.solve_triangular(L.expand(*diff.shape[:-2], *L.shape), diff, upper=False).squeeze(-1)
    d = L.shape[0]
    return -0.5 * d * LOG_2PI - 0.5 * (eps ** 2).sum(-1) - torch.log(torch.diagonal(L).abs()).sum()


class LinearGaussian2D:
    """The vector linear-Gaussian toy ``z ~ N(0, I_D)``, ``x | z ~ N(W z + b, s^2 I_M)`` (D = 2 in the notebooks).

    Args:
        W: the decoder's weights, ``(M, D)`` (a nested list or a tensor).
        b: the offset, ``(M,)`` (default 0).
        s: the noise standard deviation (> 0).

    Example:
        >>> toy = LinearGaussian2D.with_posterior_correlation(0.9)
        >>> round(float(toy.posterior_correlation()), 6)
        0.9
    """

    def __init__(self, W, b=None, s: float = 1.0):
        W = as_tensor(W, "W").to(F64)
        if W.ndim != 2:
            raise ValueError(f"W must be a matrix (M, D), got shape {tuple(W.shape)}.")
        b = torch.zeros(W.shape[0], dtype=F64) if b is None else as_tensor(b, "b").to(F64)
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},), got {tuple(b.shape)}.")
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s <= 0:
            raise ValueError(f"s={s!r} must be a positive number: it is the standard deviation of x given z.")
        self.W, self.b, self.s = W, b, float(s)

    @classmethod
    def with_posterior_correlation(cls, rho: float, s: float = 1.0) -> "LinearGaussian2D":
        """One observation, two latents, ``W = [[a, -a sign(rho)]]``: its posterior has correlation ``rho``.

        ``Lambda = I + w w^T / s^2`` has ``Lambda_12 = -sign(rho) a^2 / s^2``, so the posterior correlation
        ``-Lambda_12 / sqrt(Lambda_11 Lambda_22) = |rho|`` sign(rho) when ``a^2 / s^2 = |rho| / (1 - |rho|)``.
        """
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not -1 < rho < 1:
            raise ValueError(f"rho={rho!r} must be a number strictly between -1 and 1.")
        a = s * math.sqrt(abs(rho) / (1 - abs(rho)))
        return cls([[a, -a if rho >= 0 else a]], None, s)

    def __repr__(self) -> str:
        return f"LinearGaussian2D(W={self.W.tolist()}, b={self.b.tolist()}, s={self.s})"

    @property
    def latent_dim(self) -> int:
        return self.W.shape[1]

    # -- the generative model --------------------------------------------------------------------------------
    def log_prior(self, z) -> torch.Tensor:
        """log N(z; 0, I), ``(...)`` for z ``(..., D)``."""
        z = as_tensor(z, "z")
        return -0.5 * self.latent_dim * LOG_2PI - 0.5 * (z ** 2).sum(-1)

    def log_likelihood(self, x, z) -> torch.Tensor:
        """log N(x; W z + b, s^2 I), ``(...)``."""
        x, z = as_tensor(x, "x"), as_tensor(z, "z")
        mean = z @ self.W.T.to(z.dtype) + self.b.to(z.dtype)  # (..., M)
        m = self.W.shape[0]
        return -0.5 * m * math.log(2 * math.pi * self.s ** 2) - 0.5 * ((x - mean) ** 2).sum(-1) / self.s ** 2

    def log_joint(self, x, z) -> torch.Tensor:
        return self.log_prior(z) + self.log_likelihood(x, z)

    # -- exact inference ---------------------------------------------------------------------------------------
    def posterior_precision(self) -> torch.Tensor:
        """Lambda = I + W^T W / s^2, ``(D, D)``."""
        return torch.eye(self.latent_dim, dtype=F64) + self.W.T @ self.W / self.s ** 2

    def posterior(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact posterior ``(mean (..., D), covariance (D, D))``."""
        x = as_tensor(x, "x")
        cov = torch.linalg.inv(self.posterior_precision())
        mean = ((x - self.b) @ self.W / self.s ** 2) @ cov  # (..., D); cov is symmetric
        return mean, cov

    def posterior_correlation(self) -> torch.Tensor:
        """The correlation of z_1 and z_2 under the posterior (D = 2)."""
        cov = torch.linalg.inv(self.posterior_precision())
        return cov[0, 1] / torch.sqrt(cov[0, 0] * cov[1, 1])

    def log_marginal(self, x) -> torch.Tensor:
        """log p(x) = log N(x; b, W W^T + s^2 I), the exact evidence, ``(...)``."""
        x = as_tensor(x, "x")
        m = self.W.shape[0]
        cov = self.W @ self.W.T + self.s ** 2 * torch.eye(m, dtype=F64)
        return torch.distributions.MultivariateNormal(self.b, covariance_matrix=cov).log_prob(x)

    # -- the mean-field family q(z) = N(m, diag(v)) ------------------------------------------------------------
    def elbo_diag(self, x, q_mean, q_var) -> torch.Tensor:
        """ELBO(q) = E_q[log p(x, z)] + H(q) for ``q = N(q_mean, diag(q_var))``, in closed form, ``(...)``.

        E_q[log p(x|z)] = log N(x; W m + b, s^2 I) - sum_i (W^T W)_ii v_i / (2 s^2),
        E_q[log p(z)]   = log N(m; 0, I) - sum_i v_i / 2,       H(q) = 1/2 sum_i log(2 pi e v_i).
        """
        m, v = as_tensor(q_mean, "q_mean"), as_tensor(q_var, "q_var")
        if not bool(torch.all(v > 0)):
            raise ValueError("q_var must be positive (it holds variances).")
        wtw = torch.diagonal(self.W.T @ self.W).to(v.dtype)  # (D,)
        recon = self.log_likelihood(x, m) - (wtw * v).sum(-1) / (2 * self.s ** 2)
        prior = self.log_prior(m) - 0.5 * v.sum(-1)
        entropy = 0.5 * torch.log(2 * math.pi * math.e * v).sum(-1)
        return recon + prior + entropy

    def kl_diag_to_posterior(self, x, q_mean, q_var) -> torch.Tensor:
        """KL(N(q_mean, diag(q_var)) || p(z|x)), from the Gaussian KL formula (independent of :meth:`elbo_diag`)."""
        m, v = as_tensor(q_mean, "q_mean"), as_tensor(q_var, "q_var")
        mean, _ = self.posterior(x)
        lam = self.posterior_precision().to(v.dtype)
        diff = m - mean  # (..., D)
        quad = ((diff @ lam) * diff).sum(-1)
        return 0.5 * ((torch.diagonal(lam) * v).sum(-1) + quad - self.latent_dim
                      - torch.logdet(lam) - torch.log(v).sum(-1))

    def mean_field_optimum(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """The best factorised q: ``(posterior mean (..., D), variances 1 / Lambda_ii (D,))``."""
        mean, _ = self.posterior(x)
        return mean, 1 / torch.diagonal(self.posterior_precision())

    def mean_field_gap(self) -> torch.Tensor:
        """KL at the mean-field optimum, ``1/2 (sum_i log Lambda_ii - log det Lambda)``; 2-D: ``-1/2 log(1 - rho^2)``."""
        lam = self.posterior_precision()
        return 0.5 * (torch.log(torch.diagonal(lam)).sum() - torch.logdet(lam))


def optimise_diagonal_q(toy: LinearGaussian2D, x, steps: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximise :meth:`LinearGaussian2D.elbo_diag` over ``(m, log v)`` numerically with L-BFGS, from q = N(0, I).

    A check of the closed-form optimum that uses only the ELBO's values and gradients. Returns ``(m, v)``.
    """
    x = as_tensor(x, "x")
    m = torch.zeros(toy.latent_dim, dtype=F64, requires_grad=True)
    log_v = torch.zeros(toy.latent_dim, dtype=F64, requires_grad=True)
    opt = torch.optim.LBFGS([m, log_v], lr=1.0, max_iter=steps, tolerance_grad=1e-14, tolerance_change=1e-16,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = -toy.elbo_diag(x, m, log_v.exp())
        loss.backward()
        return loss

    opt.step(closure)
    return m.detach(), log_v.detach().exp()
