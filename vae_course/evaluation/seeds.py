"""Differences between trained models, honestly: the spread over training seeds and paired per-image differences.

Used by notebooks 08 (IWAE training at k = 1, 5, 50), 09 (the collapse remedies), 10 (the ConvVAE against the
size-matched MLP) and 11 (the learned priors).

Two kinds of noise sit on every comparison of two trained models, and a claimed difference must beat both:

* **the test images.** A score averaged over N test images has a standard error ``sd / sqrt(N)`` over the images.
  When both models are scored on the *same* images, the per-image differences ``a_i - b_i`` cancel what the images
  share (an easy digit is easy for both models), so the standard error of the difference is
  ``sd(a - b) / sqrt(N)`` (:func:`paired_difference`), usually far below the unpaired ``hypot(se_a, se_b)``;
* **the training run.** Another seed gives another initialization, other batches and other noise draws, and so
  another model. :class:`SeedSpread` summarizes one figure over several seeds: its mean and its standard deviation
  over the seeds (``ddof = 1``). A difference between two recipes is "within the seed spread" when it is not larger
  than that spread.

    >>> spread = seed_spread([86.71, 86.52, 86.90])       # one figure, three training seeds
    >>> str(spread)
    '86.71 ± 0.19 over 3 seeds'
    >>> mean, se = paired_difference(scores_a, scores_b)  # doctest: +SKIP

References:
    Bouthillier et al., "Accounting for variance in machine learning benchmarks", MLSys 2021 (arXiv:2103.03098):
    seed variance as a source of error in comparisons of trained models.
    Dror et al., "The hitchhiker's guide to testing statistical significance in NLP", ACL 2018: paired tests on the
    same test items.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import torch

__all__ = ["SeedSpread", "paired_difference", "seed_spread"]


def _as_values(values) -> tuple[float, ...]:
    """``values`` as a tuple of at least two finite floats, or one ValueError sentence saying what is wrong."""
    if isinstance(values, torch.Tensor):
        values = values.detach().reshape(-1).tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"values must be a list of numbers, one per training seed (e.g. [86.7, 86.5, 86.9]); got "
                         f"{type(values).__name__}.")
    values = list(values)
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (Real, torch.Tensor))
           or (isinstance(v, torch.Tensor) and v.numel() != 1)]
    if bad:
        raise ValueError(f"values must be plain numbers, one per training seed; {bad[0]!r} is not one.")
    values = tuple(float(v) for v in values)
    if len(values) < 2:
        raise ValueError(f"a seed spread needs the figure of at least 2 training seeds (the course uses 3 or more); "
                         f"got {len(values)}.")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"every value must be a finite number; got {list(values)} (did a training run diverge?).")
    return values


@dataclass(frozen=True)
class SeedSpread:
    """One figure (a test NLL, a difference, ...) measured for several training seeds of the same recipe.

    ``mean`` and ``std`` (over the seeds, ``ddof = 1``) summarize it; ``stderr`` = ``std / sqrt(n)`` is the standard
    error of the mean over seeds. ``str`` gives ``"m ± s over n seeds"`` and a format spec sets the digits
    (``f"{spread:.3f}"``).
    """

    values: tuple[float, ...]

    def __post_init__(self):
        object.__setattr__(self, "values", _as_values(self.values))

    @property
    def n(self) -> int:
        """How many training seeds."""
        return len(self.values)

    @property
    def mean(self) -> float:
        """The mean over the seeds."""
        return math.fsum(self.values) / self.n

    @property
    def std(self) -> float:
        """The standard deviation over the seeds (``ddof = 1``): how far another seed's figure typically lands."""
        m = self.mean
        return math.sqrt(math.fsum((v - m) ** 2 for v in self.values) / (self.n - 1))

    @property
    def stderr(self) -> float:
        """The standard error of :attr:`mean` over seeds, ``std / sqrt(n)``."""
        return self.std / math.sqrt(self.n)

    def __format__(self, spec: str) -> str:
        spec = spec or ".2f"
        return f"{format(self.mean, spec)} ± {format(self.std, spec.replace('+', ''))} over {self.n} seeds"

    def __str__(self) -> str:
        return format(self, ".2f")


def seed_spread(values) -> SeedSpread:
    """The :class:`SeedSpread` of ``values``, one figure per training seed (a list, tuple or 1-D tensor)."""
    return SeedSpread(_as_values(values))


def _as_scores(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a tensor of per-image scores (one number per test image); got "
                         f"{type(x).__name__}.")
    if x.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor of per-image scores, shape (N,); got shape {tuple(x.shape)}.")
    if x.numel() < 2:
        raise ValueError(f"{name} must hold the scores of at least 2 images to have a standard error; got "
                         f"{x.numel()}.")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds {int((~torch.isfinite(x)).sum())} non-finite scores; score finite models.")
    return x.detach().double().cpu()


def paired_difference(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """The mean of ``a - b`` over the images and its paired standard error ``sd(a - b) / sqrt(N)``.

    ``a`` and ``b`` are the per-image scores ``(N,)`` of two models on the **same** N images in the same order (e.g.
    ``-L_k`` of each test image). Returns ``(mean, standard_error)`` as floats.
    """
    a, b = _as_scores(a, "a"), _as_scores(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must score the same images: a has {a.numel():,} scores, b {b.numel():,}; score "
                         f"both models on the same test images.")
    d = a - b
    return float(d.mean()), float(d.std() / math.sqrt(d.numel()))
