"""The exercises of notebook 12 (the VQ-VAE): nearest-code quantisation, and one step of the EMA codebook update
(the build exercise, checked against :func:`vae_course.models.vqvae.ema_codebook`).

Used by notebook 12 through :mod:`vae_course.teaching.exercises`.
"""
from __future__ import annotations

from typing import Callable

import torch

from ...models.vqvae import ema_codebook, nearest_code
from .core import CheckResult, Exercise, Verdict, attempt, compare, describe_inputs, fail, one_thread, random_cases

F64 = torch.float64

NAME = "nearest_code"


def _cases():
    """Vectors that each lie clearly nearest one code (no near-ties), codes of very different lengths."""
    def make(gen, shape=None):
        k = int(torch.randint(3, 20, (), generator=gen))
        d = int(torch.randint(2, 9, (), generator=gen))
        lengths = 0.2 + 3 * torch.rand(k, 1, generator=gen)  # (K, 1): short and long codes
        codebook = torch.randn(k, d, generator=gen) * lengths  # (K, D)
        lead = shape or (int(torch.randint(1, 12, (), generator=gen)),)
        pick = torch.randint(0, k, lead, generator=gen)
        z = codebook[pick] + 0.05 * torch.randn(*lead, d, generator=gen)  # (..., D), each near its code
        return (z, codebook), {}

    line = torch.tensor([[-1.0], [0.0], [2.0]])  # (3, 1): codes on a line
    cases = [("points on a line, codes at -1, 0 and 2", (torch.tensor([[-0.7], [0.4], [1.2], [5.0]]), line), {}),
             ("a short code beside a long one in the same direction",
              (torch.tensor([[1.0, 0.1], [2.9, 0.0], [-0.5, 0.4]]), torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 0.5]])),
              {})]
    gen = torch.Generator().manual_seed(120)
    cases.append(("a grid of vectors (2, 7, 7, D), as the encoder gives", *make(gen, (2, 7, 7))))
    cases += random_cases(make, 4, seed=121)
    return cases


def _farthest(z, codebook):
    return torch.cdist(z.reshape(-1, z.shape[-1]).double(), codebook.double()).argmax(1).reshape(z.shape[:-1])


def _largest_dot(z, codebook):
    return (z.reshape(-1, z.shape[-1]) @ codebook.t()).argmax(1).reshape(z.shape[:-1])


def check_nearest_code(student_fn: Callable) -> CheckResult:
    """Notebook 12: ``nearest_code(z, codebook)``: for vectors ``z (..., D)`` and a ``codebook (K, D)``, the index of
    the nearest code (smallest Euclidean distance) of each vector, an integer tensor shaped ``z.shape[:-1]``."""
    if not callable(student_fn):
        return fail(NAME, "pass your function itself, without calling it: check_nearest_code(nearest_code), "
                          "not check_nearest_code(nearest_code()).")
    cases = _cases()
    desc, args, kwargs = cases[0]
    try:
        with one_thread():
            first = attempt(NAME, f"case 1 ({desc})", student_fn, *args, **kwargs)
    except Verdict as stop:  # TODO, or the learner's error in one line
        return stop.result
    if isinstance(first, torch.Tensor) and first.is_floating_point():
        return fail(NAME, f"case 1 ({desc}): wrong dtype: got {first.dtype}, expected integer indices (torch.int64) "
                          f"that can index the codebook. Inputs: {describe_inputs(args, kwargs)}.")
    if isinstance(first, torch.Tensor) and first.dtype != torch.int64:
        return fail(NAME, f"case 1 ({desc}): wrong dtype: got {first.dtype}, expected torch.int64, the dtype that "
                          f"argmin returns and that one_hot and the training code expect of indices: a conversion to "
                          f"a narrower integer type is not needed. Inputs: {describe_inputs(args, kwargs)}.")
    diagnoses = [
        ("You seem to pick the farthest code, not the nearest.", _farthest),
        ("You seem to pick the code with the largest dot product with z: that is the nearest code only when all "
         "codes have the same length, and a long code wins over a short one that lies closer.", _largest_dot),
    ]
    return compare(student_fn, nearest_code, cases, name=NAME, diagnoses=diagnoses,
                   inputs="fixed and random vectors and codebooks")


# --- one EMA codebook step (the build exercise of notebook 12) --------------------------------------------------------
EMA = "ema_step"
LEADING = "Does it work for vectors with leading axes, like the encoder's (B, 7, 7, D) grid and its (B, 7, 7) indices?"


def _ema_reference(counts_ema, sums_ema, z, indices, decay, eps):
    return ema_codebook(counts_ema, sums_ema, z, indices, decay=decay, eps=eps)


def _ema_args(gen, n, k, d, decay, eps=1e-5, lead=None, unused=0, fresh=False, tiny=False):
    """A running state (counts > 0, sums near count x code), N vectors near their codes, ``unused`` codes unchosen."""
    codes = 2.0 * torch.randn(k, d, generator=gen, dtype=F64)  # (K, D)
    counts = torch.zeros(k, dtype=F64) if fresh else 0.5 + 5 * torch.rand(k, generator=gen, dtype=F64)  # (K,)
    if tiny:  # the last code has all but died: a running count far below 1, of the size of eps
        counts[-1] = 1e-4
    sums = counts[:, None] * (codes + 0.3 * torch.randn(k, d, generator=gen, dtype=F64))  # (K, D)
    shape = lead or (n,)
    idx = torch.randint(0, k - unused, shape, generator=gen)  # the last `unused` codes are never chosen
    z = codes[idx] + 0.5 * torch.randn(*shape, d, generator=gen, dtype=F64)  # (..., D)
    return counts, sums, z, idx, decay, eps


def _ema_variant(counts_ema, sums_ema, z, indices, decay, eps, *, swap=False, no_weight=False, mean=False,
                 share=False, old=False, raw=False, unscaled=False):
    """The reference step with one known mistake switched on (see check_ema_step's diagnoses)."""
    k = counts_ema.shape[0]
    flat, idx = z.reshape(-1, z.shape[-1]), indices.reshape(-1)
    onehot = torch.nn.functional.one_hot(idx, k).to(flat.dtype)  # (N, K)
    n_k, s_k = onehot.sum(0), onehot.t() @ flat  # (K,), (K, D)
    if mean:
        s_k = s_k / n_k.clamp(min=1)[:, None]
    a, b = (1 - decay, decay) if swap else (decay, 1.0 if no_weight else 1 - decay)
    counts, sums = a * counts_ema + b * n_k, a * sums_ema + b * s_k
    use_c, use_m = (counts_ema, sums_ema) if old else (counts, sums)
    total = use_c.sum()
    if raw:
        smoothed = use_c
    elif unscaled:
        smoothed = use_c + eps
    elif share:
        smoothed = (use_c + eps) / (total + k * eps)
    else:
        smoothed = (use_c + eps) / (total + k * eps) * total
    return counts, sums, use_m / smoothed[:, None]


def check_ema_step(student_fn: Callable) -> CheckResult:
    """Notebook 12: ``ema_step(counts_ema, sums_ema, z, indices, decay, eps) -> (counts_ema, sums_ema, codebook)``, one
    EMA codebook step (van den Oord et al. 2017, appendix A.1): running counts ``counts_ema`` (K,) and sums
    ``sums_ema`` (K, D), vectors ``z`` (..., D) with their chosen codes ``indices`` (...) (int64). Checked against
    :func:`vae_course.models.vqvae.ema_codebook`, on states where every code is used, where some code is not (with a
    running count of 0, where only the smoothed count avoids 0/0), and on an encoder-shaped grid."""
    def make(gen):
        k = int(torch.randint(2, 9, (), generator=gen))
        d = int(torch.randint(1, 6, (), generator=gen))
        n = int(torch.randint(k, 30, (), generator=gen))
        decay = float(torch.empty(()).uniform_(0.5, 0.999, generator=gen))
        return _ema_args(gen, n, k, d, decay, unused=int(torch.randint(0, 2, (), generator=gen))), {}

    gen = torch.Generator().manual_seed(122)
    cases = [
        ("three codes in 2-D from a running state, decay 0.75",
         (torch.tensor([2.0, 1.0, 4.0], dtype=F64), torch.tensor([[2.0, 0.0], [0.0, 1.0], [-4.0, 4.0]], dtype=F64),
          torch.tensor([[1.0, 0.5], [1.5, -0.5], [0.0, 2.0], [-1.0, 1.0]], dtype=F64), torch.tensor([0, 0, 1, 2]),
          0.75, 1e-5), {}),
        ("two codes in 1-D, decay 0 and eps 0: one k-means step",
         (torch.zeros(2, dtype=F64), torch.zeros(2, 1, dtype=F64),
          torch.tensor([[-1.0], [-2.0], [3.0], [5.0], [4.0]], dtype=F64), torch.tensor([0, 0, 1, 1, 1]), 0.0, 0.0), {}),
        ("a code that no vector chose, its running count 1e-4, decay 0.9",
         _ema_args(gen, 12, 4, 3, 0.9, unused=1, tiny=True), {}),
        ("a fresh state (all counts 0) with one code that no vector chose, eps 1e-5",
         _ema_args(gen, 12, 4, 3, 0.9, fresh=True, unused=1), {}),
        ("a grid of vectors (2, 7, 7, D) with their (2, 7, 7) indices, as the encoder gives",
         _ema_args(gen, 0, 6, 4, 0.99, lead=(2, 7, 7)), {}),
        *random_cases(make, 4, seed=123),
    ]
    diagnoses = [
        ("Your running averages seem to weigh the new batch by the decay and the old state by the rest: the decay "
         "multiplies the old state, which it keeps.", lambda *a: _ema_variant(*a, swap=True)),
        ("The batch's counts and sums seem to enter the running averages without their weight (one minus the "
         "decay).", lambda *a: _ema_variant(*a, no_weight=True)),
        ("The running sums seem to take the mean of the vectors assigned to each code, not their sum.",
         lambda *a: _ema_variant(*a, mean=True)),
        ("The codebook seems to divide by the smoothed share of each code (the shares add up to 1), not by the "
         "smoothed count: scale it back to the total count.", lambda *a: _ema_variant(*a, share=True)),
        ("The codebook seems to come from the running averages before this step's update, not after it.",
         lambda *a: _ema_variant(*a, old=True)),
        ("The codebook seems to divide by the running counts plus eps without the smoothing's rescale: adding eps "
         "to every code raises the total count, so the smoothed counts must be scaled back to the total C.",
         lambda *a: _ema_variant(*a, unscaled=True)),
        ("The codebook seems to divide by the running counts without the smoothing with eps: a code whose running "
         "count is 0 then divides 0 by 0, and one that has all but died is thrown far out.",
         lambda *a: _ema_variant(*a, raw=True)),
    ]
    return compare(student_fn, _ema_reference, cases, name=EMA, diagnoses=diagnoses,
                   names=("counts_ema", "sums_ema", "codebook"), inputs="fixed and random states, vectors and codes",
                   error_notes=(("one_hot", "The indices must be int64 (torch.long) for one_hot."),
                                *((text, LEADING) for text in ("must match the size", "<= 2 dimensions",
                                                                 "number of dimensions", "size mismatch"))))


EXERCISES = (
    Exercise(NAME, check_nearest_code, nearest_code, (
        "Each vector goes to the code at the smallest Euclidean distance: compute the distance from every vector to "
        "every code, and take the index of the smallest one for each vector.",
        "Flatten z to (N, D) first, so that any leading axes work; the (N, K) matrix of distances (squared or not: "
        "the order is the same) comes from torch.cdist or from expanding the square; take the argmin over the K axis "
        "and reshape the indices to z's leading shape.",
        "For each vector z (a row of the flattened z) and each code e_j, `‖z − e_j‖² = ‖z‖² − 2 zᵀe_j + ‖e_j‖²`; "
        "the nearest code is `k(z) = argmin over j = 1..K of ‖z − e_j‖²`, one index per vector, in z's leading "
        "shape."), "12", replaces=("vae_course.models.vqvae.nearest_code", "vae_course.models.vqvae.VQVAE.quantize")),
    Exercise(EMA, check_ema_step, _ema_reference, (
        "Keep two running averages per code, of how many vectors chose it and of the sum of those vectors; the "
        "code is their ratio, a running mean of the vectors assigned to it. Each step shrinks the old averages by "
        "the decay and adds the new batch's share; a smoothed count keeps every denominator above 0.",
        "Flatten the vectors to (N, D) and the indices to (N,). Count the vectors per code, n (K,), and sum them "
        "per code, an (K, D) table (a one-hot (N, K) matrix gives both, by a sum and by a matrix product). Update "
        "both running averages, smooth the new counts with eps and rescale them to the same total, then divide.",
        "For each code j: `c_j ← γ c_j + (1 − γ) n_j`, `m_j ← γ m_j + (1 − γ) Σ_{r: k_r = j} z_r`, "
        "`c̃_j = (c_j + ε) / (C + K ε) · C` with `C = Σ_i c_i`, and `e_j = m_j / c̃_j`; return (c, m, e)."), "12",
        replaces=("vae_course.models.vqvae.ema_codebook",)),
)
