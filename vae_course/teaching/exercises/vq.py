"""The exercise of notebook 12 (the VQ-VAE): nearest-code quantisation.

Used by notebook 12 through :mod:`vae_course.teaching.exercises`.
"""
from __future__ import annotations

from typing import Callable

import torch

from ...models.vqvae import nearest_code
from .core import CheckResult, Exercise, Verdict, attempt, compare, describe_inputs, fail, one_thread, random_cases

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
    diagnoses = [
        ("You seem to pick the farthest code, not the nearest.", _farthest),
        ("You seem to pick the code with the largest dot product with z: that is the nearest code only when all "
         "codes have the same length, and a long code wins over a short one that lies closer.", _largest_dot),
    ]
    return compare(student_fn, nearest_code, cases, name=NAME, diagnoses=diagnoses,
                   inputs="fixed and random vectors and codebooks")


EXERCISES = (
    Exercise(NAME, check_nearest_code, nearest_code, (
        "Each vector goes to the code at the smallest Euclidean distance: compute the distance from every vector to "
        "every code, and take the index of the smallest one for each vector.",
        "Flatten z to (N, D) first, so that any leading axes work; the (N, K) matrix of distances (squared or not: "
        "the order is the same) comes from torch.cdist or from expanding the square; take the argmin over the K axis "
        "and reshape the indices to z's leading shape.",
        "For each vector z (a row of the flattened z) and each code e_j, `‖z − e_j‖² = ‖z‖² − 2 zᵀe_j + ‖e_j‖²`; "
        "the nearest code is `k(z) = argmin over j = 1..K of ‖z − e_j‖²`, one index per vector, in z's leading "
        "shape."), "12"),
)
