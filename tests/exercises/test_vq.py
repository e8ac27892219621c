"""The exercise of notebook 12 (vae_course.teaching.exercises.vq): nearest-code quantisation."""
import torch

from vae_course.teaching import exercises as E

from .spec import Spec, Wrong, in_dtype, run_spec

DIFF = "largest absolute difference"


def nearest_ok(z, codebook):
    return torch.cdist(z.reshape(-1, z.shape[-1]), codebook).argmin(dim=1).reshape(z.shape[:-1])


def by_expansion(z, codebook):
    flat = z.reshape(-1, z.shape[-1])
    d2 = (flat ** 2).sum(1, keepdim=True) - 2 * flat @ codebook.T + (codebook ** 2).sum(1)
    return d2.argmin(1).reshape(z.shape[:-1])


SPEC = Spec("nearest_code", E.check_nearest_code, nearest_ok, in_dtype(nearest_ok, torch.float64),
            [("squared distances expanded", by_expansion),
             ("broadcast differences", lambda z, e: ((z[..., None, :] - e) ** 2).sum(-1).argmin(-1))],
            [Wrong("the farthest code", lambda z, e: torch.cdist(z.reshape(-1, z.shape[-1]), e).argmax(1)
                   .reshape(z.shape[:-1]), ("case 1 (", DIFF, "farthest")),
             Wrong("the largest dot product", lambda z, e: (z.reshape(-1, z.shape[-1]) @ e.T).argmax(1)
                   .reshape(z.shape[:-1]), ("case 1 (", DIFF, "dot product")),
             Wrong("argmin over the codes' axis of a (K, N) matrix", lambda z, e: torch.cdist(
                 e, z.reshape(-1, z.shape[-1])).argmin(0)[:1], ("case 1 (", "wrong shape")),
             Wrong("no reshape: flat indices for a grid", lambda z, e: torch.cdist(
                 z.reshape(-1, z.shape[-1]), e).argmin(1), ("case 3 (a grid", "wrong shape")),
             Wrong("the indices as floats", lambda z, e: nearest_ok(z, e).float(), ("case 1 (", "wrong dtype")),
             Wrong("the nearest code vectors, not their indices", lambda z, e: e[nearest_ok(z, e)],
                   ("case 1 (", "wrong dtype"))])


def test_exercise():
    run_spec(SPEC)


def test_pass_message_is_unchanged():
    assert E.check_nearest_code(nearest_ok).message == (
        "PASS nearest_code: all 7 cases match the reference (fixed and random vectors and codebooks).")
