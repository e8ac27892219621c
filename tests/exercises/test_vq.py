"""The exercises of notebook 12 (vae_course.teaching.exercises.vq): nearest-code quantisation and the EMA codebook step."""
import torch
import torch.nn.functional as F

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
                   ("case 1 (", "wrong dtype")),
             Wrong("the indices as int32", lambda z, e: nearest_ok(z, e).int(),
                   ("case 1 (", "wrong dtype", "torch.int32", "torch.int64"))])


def ema_ok(counts_ema, sums_ema, z, indices, decay, eps):
    k = counts_ema.shape[0]
    flat, idx = z.reshape(-1, z.shape[-1]), indices.reshape(-1)
    onehot = F.one_hot(idx, k).to(flat.dtype)  # (N, K)
    counts = decay * counts_ema + (1 - decay) * onehot.sum(0)
    sums = decay * sums_ema + (1 - decay) * onehot.T @ flat
    total = counts.sum()
    smoothed = (counts + eps) / (total + k * eps) * total
    return counts, sums, sums / smoothed[:, None]


def ema_by_index_add(counts_ema, sums_ema, z, indices, decay, eps):
    flat, idx = z.reshape(-1, z.shape[-1]), indices.reshape(-1)
    n = torch.bincount(idx, minlength=len(counts_ema)).to(flat.dtype)
    s = torch.zeros_like(sums_ema).index_add_(0, idx, flat)
    counts = torch.lerp(n, counts_ema, decay)
    sums = torch.lerp(s, sums_ema, decay)
    c = counts.sum()
    return counts, sums, sums * (c + len(counts) * eps) / (c * (counts + eps))[:, None]


def ema_loop(counts_ema, sums_ema, z, indices, decay, eps):  # code by code, as lists
    flat, idx = z.reshape(-1, z.shape[-1]), indices.reshape(-1)
    counts, sums = counts_ema.clone(), sums_ema.clone()
    for j in range(len(counts)):
        chosen = flat[idx == j]
        counts[j] = decay * counts[j] + (1 - decay) * len(chosen)
        sums[j] = decay * sums[j] + (1 - decay) * chosen.sum(0)
    total = counts.sum()
    book = torch.stack([sums[j] / ((counts[j] + eps) / (total + len(counts) * eps) * total)
                        for j in range(len(counts))])
    return [counts, sums, book]


def ema_wrong(**mistake):
    def wrong(counts_ema, sums_ema, z, indices, decay, eps):
        k = counts_ema.shape[0]
        flat, idx = z.reshape(-1, z.shape[-1]), indices.reshape(-1)
        onehot = F.one_hot(idx, k).to(flat.dtype)
        n, s = onehot.sum(0), onehot.T @ flat
        if mistake.get("mean"):
            s = s / n.clamp(min=1)[:, None]
        a, b = (1 - decay, decay) if mistake.get("swap") else (decay, 1.0 if mistake.get("no_weight") else 1 - decay)
        counts, sums = a * counts_ema + b * n, a * sums_ema + b * s
        c_use, m_use = (counts_ema, sums_ema) if mistake.get("old") else (counts, sums)
        total = c_use.sum()
        if mistake.get("raw"):
            return counts, sums, m_use / c_use[:, None]
        if mistake.get("unscaled"):
            return counts, sums, m_use / (c_use + eps)[:, None]
        smoothed = (c_use + eps) / (total + k * eps)
        if not mistake.get("share"):
            smoothed = smoothed * total
        return counts, sums, m_use / smoothed[:, None]
    return wrong


def ema_unflattened(counts_ema, sums_ema, z, indices, decay, eps):  # works for (N, D) only
    onehot = F.one_hot(indices, len(counts_ema)).to(z.dtype)
    counts = decay * counts_ema + (1 - decay) * onehot.sum(0)
    sums = decay * sums_ema + (1 - decay) * onehot.t() @ z
    total = counts.sum()
    return counts, sums, sums / ((counts + eps) / (total + len(counts) * eps) * total)[:, None]


EMA_SPEC = Spec("ema_step", E.check_ema_step, ema_ok, in_dtype(ema_ok, torch.float32),
                [("bincount, index_add_ and lerp", ema_by_index_add), ("a loop over the codes, a list", ema_loop)],
                [Wrong("decay on the wrong side", ema_wrong(swap=True), ("case 1 (", DIFF, "weigh the new batch")),
                 Wrong("no (1 - decay) on the batch", ema_wrong(no_weight=True), ("case 1 (", DIFF, "without their weight")),
                 Wrong("the batch's per-code means, not sums", ema_wrong(mean=True), ("case 1 (", DIFF, "mean of the vectors")),
                 Wrong("divided by the smoothed share", ema_wrong(share=True), ("case 1 (", DIFF, "smoothed share")),
                 Wrong("the codebook from the old state", ema_wrong(old=True), ("case 1 (", "codebook", DIFF, "before this step's update")),
                 Wrong("counts + eps, without the rescale to the total", ema_wrong(unscaled=True),
                       ("case 4 (a fresh state", "codebook", DIFF, "smoothing's rescale")),
                 Wrong("no smoothing", ema_wrong(raw=True), ("case 3 (a code that no vector chose", "codebook", DIFF, "without the smoothing")),
                 Wrong("only the codebook returned", lambda *a: ema_ok(*a)[2], ("case 1 (", "expected 3 values")),
                 Wrong("nothing flattened", ema_unflattened, ("case 5 (a grid", "raised", "leading axes"))])


def test_exercise():
    run_spec(SPEC)


def test_ema_exercise():
    run_spec(EMA_SPEC)


def test_handing_the_work_to_the_package_is_not_a_pass():
    from vae_course.models import ema_codebook, nearest_code
    assert E.check_ema_step(lambda c, m, z, i, g, e: ema_codebook(c, m, z, i, decay=g, eps=e)).verdict != "PASS"
    assert E.check_nearest_code(lambda z, e: nearest_code(z, e)).verdict != "PASS"


def test_pass_message_is_unchanged():
    assert E.check_nearest_code(nearest_ok).message == (
        "PASS nearest_code: all 7 cases match the reference (fixed and random vectors and codebooks).")
