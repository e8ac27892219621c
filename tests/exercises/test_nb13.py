"""The build exercise of notebook 13 (vae_course.teaching.exercises.deeper): the Ladder VAE's precision-weighted
merge and the KL term of its lower layer."""
import torch

from vae_course.teaching import exercises as E
from vae_course.teaching.exercises import deeper as DP

from .spec import Spec, Wrong, in_dtype, run_spec

F32 = torch.float32
DIFF = "largest absolute difference"


def ladder_kl_ok(mu_hat, logvar_hat, mu_p, logvar_p):
    """The solved exercise."""
    precision = torch.exp(-logvar_hat) + torch.exp(-logvar_p)  # (B, D1)
    logvar = -torch.log(precision)
    mu = (mu_hat * torch.exp(-logvar_hat) + mu_p * torch.exp(-logvar_p)) / precision
    kl = 0.5 * (logvar_p - logvar + (torch.exp(logvar) + (mu - mu_p) ** 2) * torch.exp(-logvar_p) - 1).sum(-1)
    return mu, logvar, kl


def ladder_kl_torch(mu_hat, logvar_hat, mu_p, logvar_p):
    """Equivalent: variances, then torch.distributions for the KL."""
    var = 1 / (1 / logvar_hat.exp() + 1 / logvar_p.exp())
    mu = var * (mu_hat / logvar_hat.exp() + mu_p / logvar_p.exp())
    q = torch.distributions.Normal(mu, var.sqrt())
    p = torch.distributions.Normal(mu_p, torch.exp(0.5 * logvar_p))
    return mu, var.log(), torch.distributions.kl_divergence(q, p).sum(-1)


def ladder_kl_weights(mu_hat, logvar_hat, mu_p, logvar_p):
    """Equivalent: the mean as a convex combination with weight w = sigma_p^2 / (sigma_hat^2 + sigma_p^2)."""
    w = torch.sigmoid(logvar_p - logvar_hat)
    mu = w * mu_hat + (1 - w) * mu_p
    logvar = logvar_hat + logvar_p - torch.logaddexp(logvar_hat, logvar_p)
    kl = 0.5 * (logvar_p - logvar + (logvar.exp() + (mu - mu_p) ** 2) / logvar_p.exp() - 1).sum(-1)
    return mu, logvar, kl


def wrong(**kw):
    return lambda *a: tuple(v.to(a[0].dtype) for v in DP._variant(*a, **kw))


SPEC = Spec(
    "ladder_kl", E.check_ladder_kl, ladder_kl_ok, in_dtype(ladder_kl_ok, F32),
    [("variances and torch.distributions", ladder_kl_torch), ("a convex weight on the means", ladder_kl_weights)],
    [Wrong("variances added", wrong(merge="variances_add"), ("case 1 (", DIFF, "adds the two variances")),
     Wrong("means weighted by variances", wrong(merge="weights_by_variance"),
           ("case 2 (", DIFF, "weights each Gaussian's mean by its variance")),
     Wrong("log-variances averaged", wrong(merge="average_logvar"), ("case 1 (", DIFF, "average of the two")),
     Wrong("KL(p || q)", wrong(kl="reversed"), ("case 1 (", DIFF, "KL(p || q)")),
     Wrong("KL against N(0, I)", wrong(kl="to_standard_normal"), ("case 1 (", DIFF, "against N(0, I)")),
     Wrong("no sum over the latent axis", wrong(kl="no_sum"), ("case 1 (", "wrong shape", "sums them over the latent")),
     Wrong("only two values", lambda *a: ladder_kl_ok(*a)[:2], ("case 1 (", "expected 3 values"))])
SPECS = [SPEC]


def test_ladder_kl_spec():
    run_spec(SPEC)


def test_pass_line_and_reference():
    assert E.check_ladder_kl(ladder_kl_ok).message == (
        "PASS ladder_kl: all 6 cases match the reference (mu, logvar and the KL term, float64 and float32).")
    from vae_course.models import precision_weighted_merge

    def via_package(mu_hat, logvar_hat, mu_p, logvar_p):
        mu, logvar = precision_weighted_merge(mu_hat, logvar_hat, mu_p, logvar_p)
        return mu, logvar, ladder_kl_ok(mu_hat, logvar_hat, mu_p, logvar_p)[2]

    assert E.check_ladder_kl(via_package).verdict == "REFERENCE"
    assert E.EXERCISES["ladder_kl"].notebook == "13"
