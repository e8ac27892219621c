"""The exercises of issue 15's theory sections (notebooks 02 and 04): solved, low-precision and equivalent answers
pass, stubs are TODO, typical mistakes FAIL with the case, the difference and a diagnosis, never the formula."""
import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

from vae_course.teaching import exercises as E

from .spec import Spec, Wrong, in_dtype, run_spec

F32, F64 = torch.float32, torch.float64
DIFF = "largest absolute difference"


def mf_ok(m, c):
    return m, 1 / torch.diagonal(torch.linalg.inv(c))


def mf_schur(m, c):  # v_i = Sigma_ii - Sigma_i,rest Sigma_rest^-1 Sigma_rest,i: the conditional variance
    d = c.shape[0]
    out = []
    for i in range(d):
        rest = [j for j in range(d) if j != i]
        s_ir = c[i, rest]
        out.append(c[i, i] - s_ir @ torch.linalg.solve(c[rest][:, rest], s_ir))
    return m.clone(), torch.stack(out)


def tril_ok(z, mu, L):
    eps = torch.linalg.solve_triangular(L, (z - mu).unsqueeze(-1), upper=False).squeeze(-1)
    return -0.5 * z.shape[-1] * math.log(2 * math.pi) - 0.5 * (eps ** 2).sum(-1) - torch.log(torch.diagonal(L)).sum()


def tril_inverse(z, mu, L):  # an explicit inverse and Normal(0, 1) per coordinate
    eps = (z - mu) @ torch.linalg.inv(L).T
    return Normal(0.0, 1.0).log_prob(eps).sum(-1) - torch.logdet(L)


SPECS = [
    Spec("mean_field_q", E.check_mean_field_q, mf_ok, in_dtype(mf_ok, F32),
         [("the conditional variances by the Schur complement", mf_schur),
          ("torch.linalg.inv(c).diagonal().reciprocal()", lambda m, c: (m, torch.linalg.inv(c).diagonal().reciprocal()))],
         [Wrong("the marginal variances (moment matching)", lambda m, c: (m, torch.diagonal(c)),
                ("case 2 (", "q_var: largest absolute difference", "marginal variances")),
          Wrong("one over the marginal variances", lambda m, c: (m, 1 / torch.diagonal(c)),
                (DIFF, "invert the whole covariance matrix")),
          Wrong("the precisions", lambda m, c: (m, torch.diagonal(torch.linalg.inv(c))), (DIFF, "precisions")),
          Wrong("standard deviations", lambda m, c: (m, (1 / torch.diagonal(torch.linalg.inv(c))).sqrt()),
                (DIFF, "standard deviations")),
          Wrong("q's mean at 0", lambda m, c: (torch.zeros_like(m), mf_ok(m, c)[1]), ("q_mean: largest", "mean of q")),
          Wrong("only the variances", lambda m, c: mf_ok(m, c)[1], ("expected 2 values",))]),
    Spec("log_q_tril", E.check_log_q_tril, tril_ok, in_dtype(tril_ok, F32),
         [("explicit inverse, Normal(0, 1) and logdet", tril_inverse),
          ("MultivariateNormal(scale_tril=L)", lambda z, mu, L: MultivariateNormal(mu, scale_tril=L).log_prob(z))],
         [Wrong("no Jacobian term", lambda z, mu, L: tril_ok(z, mu, L) + torch.log(torch.diagonal(L)).sum(),
                ("case 2 (", DIFF, "Jacobian term")),
          Wrong("+ log det L", lambda z, mu, L: tril_ok(z, mu, L) + 2 * torch.log(torch.diagonal(L)).sum(),
                (DIFF, "wrong sign")),
          Wrong("log det (L L^T)", lambda z, mu, L: tril_ok(z, mu, L) - torch.log(torch.diagonal(L)).sum(),
                (DIFF, "counted twice")),
          Wrong("eps = L (z - mu)", lambda z, mu, L: Normal(0.0, 1.0).log_prob((z - mu) @ L.T).sum(-1)
                - torch.log(torch.diagonal(L)).sum(), (DIFF, "multiplying by L")),
          Wrong("solved with L^T", lambda z, mu, L: Normal(0.0, 1.0).log_prob(torch.linalg.solve_triangular(
              L.T, (z - mu).unsqueeze(-1), upper=True).squeeze(-1)).sum(-1) - torch.log(torch.diagonal(L)).sum(),
                ("case 3 (", DIFF, "transpose of L")),
          Wrong("no sum over the coordinates", lambda z, mu, L: Normal(mu, torch.diagonal(L)).log_prob(z),
                ("wrong shape", "missing a sum"))]),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_exercise(spec):
    run_spec(spec)


def test_pass_messages_are_unchanged():
    """The notebooks' stored outputs show these lines: they must stay byte-identical."""
    assert E.check_mean_field_q(mf_ok).message == \
        "PASS mean_field_q: all 7 cases match the reference (fixed and random inputs)."
    assert E.check_log_q_tril(tril_ok).message == \
        "PASS log_q_tril: all 7 cases match the reference (fixed and random inputs)."


def test_the_references_are_the_package_toys():
    from vae_course.theory import LinearGaussian2D

    toy = LinearGaussian2D.with_posterior_correlation(0.8)
    x = torch.tensor([1.0], dtype=F64)
    mean, cov = toy.posterior(x)
    m, v = E.EXERCISES["mean_field_q"].reference(mean, cov)
    m2, v2 = toy.mean_field_optimum(x)
    assert torch.allclose(m, m2, atol=1e-14) and torch.allclose(v, v2, atol=1e-14)
