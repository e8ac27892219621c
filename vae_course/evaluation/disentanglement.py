"""Disentanglement measured against known factors: the mutual information gap (MIG) of Chen et al. 2018.

Used by notebook 15 (``from vae_course.evaluation import mig, mutual_information_matrix``).

Each code unit (a column of ``codes``, e.g. the posterior means) is cut into ``bins`` equal-width bins between its
smallest and largest value, as disentanglement_lib's ``_histogram_discretize`` does; each factor is already discrete
(integer values). Then, with empirical frequencies over the N images::

    I(c_j; v_k) = sum_{a,b} p(a, b) log( p(a, b) / (p(a) p(b)) )          # (D, F) matrix, nats
    MIG = (1/F) sum_k [ I(c_(1); v_k) - I(c_(2); v_k) ] / H(v_k)          # (1), (2): the two largest in column k

MIG is 1 when each factor is copied by one unit and no other unit knows it, 0 when the best two units know the
factor equally well (or nothing). The plug-in estimate is biased upward by about (bins - 1)(levels - 1) / (2N) nats
per pair, negligible for N in the thousands.

References:
    Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in VAEs" (arXiv:1802.04942): MIG.
    Locatello et al. 2019, "Challenging Common Assumptions in the Unsupervised Learning of Disentangled
    Representations" (arXiv:1811.12359): disentanglement_lib, the binning used here.
"""
from __future__ import annotations

import torch


def _check(codes, factors) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(codes, torch.Tensor) or codes.dim() != 2 or not codes.is_floating_point():
        raise ValueError("codes must be a float tensor shaped (N, D): one row of code units per image.")
    if not isinstance(factors, torch.Tensor) or factors.dim() != 2 or factors.is_floating_point():
        raise ValueError("factors must be an integer tensor shaped (N, F) of discrete factor values, as make_shapes "
                         "returns them.")
    if codes.shape[0] != factors.shape[0] or codes.shape[0] < 2:
        raise ValueError(f"codes and factors must describe the same N >= 2 images, got {codes.shape[0]} and "
                         f"{factors.shape[0]} rows.")
    if not torch.isfinite(codes).all():
        raise ValueError("codes contain NaN or infinite values: score finite codes (e.g. the encoder's means).")
    return codes.detach().double().cpu(), factors.detach().long().cpu()


def discretize(codes: torch.Tensor, bins: int = 20) -> torch.Tensor:
    """Each column of ``codes`` ``(N, D)`` cut into ``bins`` equal-width bins over its range: ``(N, D)`` int64 in
    ``0 .. bins - 1`` (a constant column falls into bin 0)."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins={bins!r} must be a whole number >= 2 (disentanglement_lib uses 20).")
    lo, hi = codes.min(0).values, codes.max(0).values  # (D,)
    width = torch.where(hi > lo, (hi - lo) / bins, torch.ones_like(hi))
    return ((codes - lo) / width).floor().clamp(0, bins - 1).long()  # (N, D)


def _entropy(labels: torch.Tensor) -> float:
    p = torch.bincount(labels - labels.min()).double() / labels.numel()
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def _mi(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.min(), b - b.min()
    nb = int(b.max()) + 1
    joint = torch.bincount(a * nb + b, minlength=(int(a.max()) + 1) * nb).double().reshape(-1, nb) / a.numel()
    pa, pb = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
    mask = joint > 0
    return float((joint[mask] * (joint[mask] / (pa * pb)[mask]).log()).sum())


def mutual_information_matrix(codes: torch.Tensor, factors: torch.Tensor, bins: int = 20) -> torch.Tensor:
    """``I(c_j; v_k)`` in nats between each discretized code unit j and each factor k: ``(D, F)`` float64."""
    codes, factors = _check(codes, factors)
    binned = discretize(codes, bins)
    return torch.tensor([[_mi(binned[:, j], factors[:, k]) for k in range(factors.shape[1])]
                         for j in range(binned.shape[1])], dtype=torch.float64)


def factor_entropies(factors: torch.Tensor) -> torch.Tensor:
    """The empirical entropy ``H(v_k)`` of each factor in nats: ``(F,)`` float64."""
    if not isinstance(factors, torch.Tensor) or factors.dim() != 2 or factors.is_floating_point():
        raise ValueError("factors must be an integer tensor shaped (N, F) of discrete factor values.")
    return torch.tensor([_entropy(factors[:, k].long()) for k in range(factors.shape[1])], dtype=torch.float64)


def mig_per_factor(codes: torch.Tensor, factors: torch.Tensor, bins: int = 20) -> torch.Tensor:
    """Each factor's normalized gap ``(I(c_(1); v_k) - I(c_(2); v_k)) / H(v_k)``: ``(F,)`` float64."""
    codes, factors = _check(codes, factors)
    if codes.shape[1] < 2:
        raise ValueError("MIG needs at least two code units (it compares the best unit with the second best).")
    h = factor_entropies(factors)  # (F,)
    if (h <= 0).any():
        k = int((h <= 0).nonzero()[0])
        raise ValueError(f"factor {k} takes a single value here, so its entropy is 0 and its gap cannot be "
                         f"normalized: drop that column or score more varied images.")
    top2 = mutual_information_matrix(codes, factors, bins).topk(2, dim=0).values  # (2, F)
    return (top2[0] - top2[1]) / h


def mig(codes: torch.Tensor, factors: torch.Tensor, bins: int = 20) -> float:
    """The mutual information gap of ``codes`` ``(N, D)`` against ``factors`` ``(N, F)``, averaged over factors."""
    return float(mig_per_factor(codes, factors, bins).mean())
