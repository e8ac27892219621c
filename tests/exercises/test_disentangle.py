"""The build exercise of notebook 15 (vae_course.teaching.exercises.disentangle): MIG from binned codes."""
import math

import torch

from vae_course.teaching import exercises as E

from .spec import Spec, Wrong, run_spec

DIFF = "largest absolute difference"


def _joint(a, b):
    counts = torch.zeros(int(a.max()) + 1, int(b.max()) + 1, dtype=torch.float64)
    counts.index_put_((a, b), torch.ones(a.numel(), dtype=torch.float64), accumulate=True)
    return counts / a.numel()


def _mi_matrix(binned, factors, dtype=torch.float64, log=torch.log):
    mi = torch.zeros(binned.shape[1], factors.shape[1], dtype=dtype)
    for j in range(binned.shape[1]):
        for k in range(factors.shape[1]):
            p = _joint(binned[:, j], factors[:, k]).to(dtype)
            outer = p.sum(1, keepdim=True) * p.sum(0, keepdim=True)
            m = p > 0
            mi[j, k] = (p[m] * log(p[m] / outer[m])).sum()
    return mi


def _entropies(factors, dtype=torch.float64, log=torch.log):
    out = []
    for k in range(factors.shape[1]):
        p = torch.bincount(factors[:, k]).to(dtype) / factors.shape[0]
        p = p[p > 0]
        out.append(-(p * log(p)).sum())
    return torch.stack(out)


def mig_ok(binned, factors):
    """The solved exercise."""
    mi = _mi_matrix(binned, factors)  # (D, F)
    top2 = mi.sort(dim=0, descending=True).values[:2]  # (2, F)
    return ((top2[0] - top2[1]) / _entropies(factors)).mean()


def mig_float32(binned, factors):
    mi = _mi_matrix(binned, factors, torch.float32)
    top2 = mi.sort(dim=0, descending=True).values[:2]
    return ((top2[0] - top2[1]) / _entropies(factors, torch.float32)).mean()


def mig_bits(binned, factors):
    """Equivalent: bits instead of nats (the ratio does not care), and a Python float."""
    mi = _mi_matrix(binned, factors, log=torch.log2)
    h = _entropies(factors, log=torch.log2)
    gaps = [float(col.topk(2).values[0] - col.topk(2).values[1]) / float(hk) for col, hk in zip(mi.T, h)]
    return sum(gaps) / len(gaps)


def mig_loops(binned, factors):
    """Equivalent: plain Python counting with a Counter."""
    from collections import Counter
    n = binned.shape[0]
    total = 0.0
    for k in range(factors.shape[1]):
        v = factors[:, k].tolist()
        pv = Counter(v)
        h = -sum(c / n * math.log(c / n) for c in pv.values())
        mis = []
        for j in range(binned.shape[1]):
            c = binned[:, j].tolist()
            pc, pj = Counter(c), Counter(zip(c, v))
            mis.append(sum(m / n * math.log((m / n) / (pc[a] / n * pv[b] / n)) for (a, b), m in pj.items()))
        mis.sort(reverse=True)
        total += (mis[0] - mis[1]) / h
    return total / factors.shape[1]


def no_normalization(binned, factors):
    top2 = _mi_matrix(binned, factors).sort(dim=0, descending=True).values[:2]
    return (top2[0] - top2[1]).mean()


def top_only(binned, factors):
    return (_mi_matrix(binned, factors).max(0).values / _entropies(factors)).mean()


def across_factors(binned, factors):
    mi = _mi_matrix(binned, factors)
    t = mi.sort(dim=1, descending=True).values
    return ((t[:, 0] - t[:, 1]) / _entropies(factors)[mi.argmax(1)]).mean()


def code_entropy(binned, factors):
    mi = _mi_matrix(binned, factors)
    top2 = mi.sort(dim=0, descending=True).values[:2]
    return ((top2[0] - top2[1]) / _entropies(binned)[mi.argmax(0)]).mean()


def per_factor(binned, factors):
    mi = _mi_matrix(binned, factors)
    top2 = mi.sort(dim=0, descending=True).values[:2]
    return (top2[0] - top2[1]) / _entropies(factors)


SPEC = Spec(
    "mig", E.check_mig, mig_ok, mig_float32,
    [("in bits, a Python float", mig_bits), ("plain Python counting", mig_loops)],
    [Wrong("not normalized by H(v_k)", no_normalization, ("case 1 (", DIFF, "divides each factor's gap")),
     Wrong("largest MI, no gap", top_only, ("case 1 (", DIFF, "largest mutual information alone")),
     Wrong("gap across factors", across_factors, ("case 1 (", DIFF, "across the factors")),
     Wrong("code unit's entropy", code_entropy, ("case 3 (", DIFF, "code unit's entropy")),
     Wrong("one gap per factor", per_factor, ("case 1 (", "wrong shape", "their mean"))])
SPECS = [SPEC]


def test_mig_spec():
    run_spec(SPEC)


def test_pass_line_and_reference():
    assert E.check_mig(mig_ok).message == (
        "PASS mig: all 5 cases match the reference (copied, split and partly tied codes).")
    from vae_course.evaluation import mig

    assert E.check_mig(lambda b, f: mig(b.double(), f)).verdict == "REFERENCE"
    assert E.EXERCISES["mig"].notebook == "15"
