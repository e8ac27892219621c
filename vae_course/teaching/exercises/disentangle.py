"""The build exercise of notebook 15: the mutual information gap (MIG) from discretized codes and discrete factors.

Written from the notebook's derivation (empirical joint frequencies, mutual information, entropy, the gap between the
two most informative code units, normalized and averaged), which the notebook does not show as code above the
checker. The checker compares the learner's number with :mod:`vae_course.evaluation.disentanglement` on fixed and
seeded random cases, and names the known mistakes: the gap not normalized by the factor's entropy, the largest
mutual information without the gap, the gap taken across factors instead of across code units, the code unit's
entropy in place of the factor's, one gap per factor instead of their mean.
"""
from __future__ import annotations

from typing import Callable

import torch

from .core import CheckResult, Exercise, attempt, checker, describe_inputs, fail, mismatch, passed, recognise


def _parts(binned: torch.Tensor, factors: torch.Tensor):
    """The (D, F) mutual-information matrix, the factors' entropies (F,) and the codes' entropies (D,), in nats."""
    from ...evaluation.disentanglement import _entropy, _mi

    mi = torch.tensor([[_mi(binned[:, j], factors[:, k]) for k in range(factors.shape[1])]
                       for j in range(binned.shape[1])], dtype=torch.float64)
    h_v = torch.tensor([_entropy(factors[:, k]) for k in range(factors.shape[1])], dtype=torch.float64)
    h_c = torch.tensor([_entropy(binned[:, j]) for j in range(binned.shape[1])], dtype=torch.float64)
    return mi, h_v, h_c


def _mig_reference(binned: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    mi, h_v, _ = _parts(binned, factors)
    top2 = mi.topk(2, dim=0).values  # (2, F)
    return ((top2[0] - top2[1]) / h_v).mean()


def _variant(binned, factors, mistake):
    mi, h_v, h_c = _parts(binned, factors)
    top2 = mi.topk(2, dim=0).values  # (2, F)
    if mistake == "no_normalization":
        return (top2[0] - top2[1]).mean()
    if mistake == "top_only":
        return (top2[0] / h_v).mean()
    if mistake == "across_factors":
        t = mi.topk(2, dim=1).values  # (D, 2)
        return ((t[:, 0] - t[:, 1]) / h_v[mi.argmax(1)]).mean()
    if mistake == "code_entropy":
        return ((top2[0] - top2[1]) / h_c[mi.argmax(0)]).mean()
    raise ValueError(mistake)


DIAGNOSES = [
    ("Your number looks like the gaps in nats: MIG divides each factor's gap by that factor's entropy H(v_k), so "
     "that it lies between 0 and 1.", lambda b, f: _variant(b, f, "no_normalization")),
    ("Your number looks like the largest mutual information alone (normalized): MIG subtracts the second largest, so "
     "that a factor spread over two units scores low.", lambda b, f: _variant(b, f, "top_only")),
    ("Your gap seems taken across the factors of each code unit: MIG ranks the code units for each factor (the "
     "column of the factor), then averages over factors.", lambda b, f: _variant(b, f, "across_factors")),
    ("Your gap seems normalized by a code unit's entropy: MIG divides by the factor's entropy H(v_k), which does not "
     "depend on the code.", lambda b, f: _variant(b, f, "code_entropy")),
]


def _cases():
    gen = torch.Generator().manual_seed(151)
    n = 400
    v = torch.stack([torch.randint(3, (n,), generator=gen), torch.randint(5, (n,), generator=gen)], 1)  # (n, 2)
    noise = torch.randint(4, (n,), generator=gen)
    cases = [("a code that copies both factors into units 0 and 1, unit 2 noise (N = 400, D = 3, F = 2)",
              (torch.stack([v[:, 0], v[:, 1], noise], 1), v)),
             ("factor 0 copied into two units, factor 1 into one (N = 400, D = 3, F = 2)",
              (torch.stack([v[:, 0], v[:, 0], v[:, 1]], 1), v))]
    for i, (n, d, levels) in enumerate([(300, 4, (2, 6, 4)), (500, 3, (4, 3)), (250, 5, (3, 3, 5))]):
        f = torch.stack([torch.randint(k, (n,), generator=gen) for k in levels], 1)  # (n, F)
        mixed = [(f[:, j % len(levels)] + torch.randint(3, (n,), generator=gen) * (j // len(levels) + 1)) % 7
                 for j in range(d)]
        cases.append((f"random codes with 7 bins, partly tied to the factors, #{i + 1} (N = {n}, D = {d}, "
                      f"F = {len(levels)})", (torch.stack(mixed, 1), f)))
    return cases


@checker
def check_mig(student_fn: Callable) -> CheckResult:
    """Notebook 15: ``mig_from_bins(binned, factors) -> MIG``, one number.

    ``binned`` ``(N, D)`` int64 holds each code unit's bin, ``factors`` ``(N, F)`` int64 each factor's value; the
    answer is the mean over factors of ``(I(c_(1); v_k) - I(c_(2); v_k)) / H(v_k)`` with empirical frequencies.
    Compared with relative 1e-4 (a float32 computation passes) with :mod:`vae_course.evaluation.disentanglement`.
    """
    name = "mig"
    if not callable(student_fn):
        return fail(name, "pass your function itself, without calling it: check_mig(mig_from_bins), not "
                          "check_mig(mig_from_bins()).")
    cases = _cases()
    tol = dict(atol=1e-5, rtol=1e-4)
    for i, (desc, args) in enumerate(cases, start=1):
        want = _mig_reference(*args)
        got = attempt(name, f"case {i} ({desc})", student_fn, *(a.clone() for a in args))
        if isinstance(got, torch.Tensor) and got.dim() == 1 and got.numel() == args[1].shape[1]:
            return fail(name, f"case {i} ({desc}): wrong shape: got {tuple(got.shape)}, one number per factor; MIG "
                              f"is their mean, one number.")
        why = mismatch(got, want, **tol)
        if why is None:
            continue
        known = recognise(got, DIAGNOSES, args, {}, **tol)
        if known:
            why = mismatch(got, want, generic=False, **tol)
        return fail(name, f"case {i} ({desc}): {why}{known} Inputs: {describe_inputs(args, {})}.")
    return passed(name, f"all {len(cases)} cases match the reference (copied, split and partly tied codes).")


EXERCISES = (
    Exercise("mig", check_mig, _mig_reference, (
        "MIG asks, for each factor, how much more the most informative code unit knows about it than the runner-up, "
        "as a fraction of all there is to know about the factor (its entropy); then it averages over factors.",
        "Count how often each pair (bin of unit j, value of factor k) occurs to get the joint frequencies; their row "
        "and column sums are the marginals. Sum p log(p / (p_row p_col)) over the nonzero cells for the mutual "
        "information of every (unit, factor) pair; for each factor sort its column, subtract, divide, then average.",
        "I(c_j; v_k) = sum_{a,b} p(a,b) log[ p(a,b) / (p(a) p(b)) ],  H(v_k) = - sum_b p(b) log p(b),  "
        "MIG = (1/F) sum_k [ I(c_(1); v_k) - I(c_(2); v_k) ] / H(v_k)."),
        "15", replaces=("vae_course.evaluation.disentanglement.mig", "vae_course.evaluation.disentanglement.mig_per_factor",
                        "vae_course.evaluation.disentanglement.mutual_information_matrix",
                        "vae_course.evaluation.disentanglement._mi")),
)
