"""Notebook 05's model exercises: the VAE as an nn.Module (check_vae_module) and one training step
(check_train_step). The solved examples below are what the notebook's solution cells hold."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vae_course.teaching import exercises as E

from .spec import Spec, Wrong, run_spec, stub

DIFF = "largest absolute difference"


class MyVAE(nn.Module):
    """The solved skeleton: the reference VAE, written by the learner."""

    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=2):
        super().__init__()
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.fc3 = nn.Linear(latent_dim, hidden_dim)
        self.fc4 = nn.Linear(hidden_dim, input_dim)

    def encode(self, x):
        h = F.relu(self.fc1(x.reshape(len(x), -1)))  # (B, 400)
        return self.fc_mu(h), self.fc_logvar(h)  # (B, D) each

    def reparameterize(self, mu, logvar):
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode_logits(self, z):
        return self.fc4(F.relu(self.fc3(z)))  # (B, 784)

    def forward(self, x):
        mu, logvar = self.encode(x)
        logits = self.decode_logits(self.reparameterize(mu, logvar))
        return torch.sigmoid(logits).reshape(x.shape), mu, logvar


def variant(**methods):
    """A subclass of MyVAE with some methods replaced."""
    return type("Variant", (MyVAE,), methods)


class SequentialVAE(nn.Module):
    """Equivalent: nn.Sequential blocks, other names, decoder registered before the encoder."""

    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=2):
        super().__init__()
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, input_dim))
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(input_dim, hidden_dim), nn.ReLU())
        self.head_mu = nn.Linear(hidden_dim, latent_dim)
        self.head_logvar = nn.Linear(hidden_dim, latent_dim)

    def encode(self, x):
        h = self.body(x)
        return self.head_mu(h), self.head_logvar(h)

    def reparameterize(self, mu, logvar):
        return mu + logvar.mul(0.5).exp() * torch.randn(mu.shape)

    def decode_logits(self, z):
        return self.decoder(z)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode_logits(self.reparameterize(mu, logvar)).sigmoid().view_as(x), mu, logvar


class FixedSizes(MyVAE):  # hard-codes 400 hidden units and 2 latent dimensions
    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=2):
        super().__init__(784, 400, 2)


class NoBias(MyVAE):
    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=2):
        super().__init__(input_dim, hidden_dim, latent_dim)
        self.fc4 = nn.Linear(hidden_dim, input_dim, bias=False)


class StubVAE(nn.Module):
    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=2):
        super().__init__()
        raise NotImplementedError("your code here")


def train_step(model, optimizer, x):
    """The solved training step: one Adam step on the negative ELBO, nats per image."""
    optimizer.zero_grad()
    mu, logvar = model.encode(x)
    logits = model.decode_logits(model.reparameterize(mu, logvar))
    bce = F.binary_cross_entropy_with_logits(logits, x.reshape(len(x), -1), reduction="none").sum(1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    loss = (bce + kl).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def softplus_step(model, optimizer, x):
    """Equivalent: the BCE written from the maths, softplus(eta) - x eta, summed over the batch and reported per
    image (the reference script's sum, from the logits)."""
    optimizer.zero_grad()
    mu, logvar = model.encode(x)
    eta = model.decode_logits(model.reparameterize(mu, logvar))
    loss = (F.softplus(eta) - x.reshape(len(x), -1) * eta).sum() + 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum()
    loss.backward()
    optimizer.step()
    return loss.item() / len(x)


def bernoulli_step(model, optimizer, x):
    """Equivalent: -Bernoulli(logits=eta).log_prob(x) (the checker's images are binary)."""
    optimizer.zero_grad()
    mu, logvar = model.encode(x)
    eta = model.decode_logits(model.reparameterize(mu, logvar))
    nll = -torch.distributions.Bernoulli(logits=eta).log_prob(x.reshape(len(x), -1)).sum(1)
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                           torch.distributions.Normal(0.0, 1.0)).sum(1)
    loss = (nll + kl).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def reference_script_step(model, optimizer, x):
    """The pytorch/examples style: forward, BCE on probabilities summed over the batch; reported per image. Wrong
    where the decoder is confident: the sigmoid rounds to 0 or 1 and the log is clamped (issue 24, section 3)."""
    optimizer.zero_grad()
    recon, mu, logvar = model(x)
    loss = F.binary_cross_entropy(recon.reshape(len(x), -1), x.reshape(len(x), -1), reduction="sum") \
        - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    loss.backward()
    optimizer.step()
    return loss.item() / len(x)


def step_variant(zero_grad=True, step=True, per_image=True, kl=True, fresh_optimizer=False):
    def fn(model, optimizer, x):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3) if fresh_optimizer else optimizer
        if zero_grad:
            opt.zero_grad()
        mu, logvar = model.encode(x)
        logits = model.decode_logits(model.reparameterize(mu, logvar))
        per = F.binary_cross_entropy_with_logits(logits, x.reshape(len(x), -1), reduction="none").sum(1)
        if kl:
            per = per - 0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        loss = per.mean() if per_image else per.sum()
        loss.backward()
        if step:
            opt.step()
        return loss.item()
    return fn


def decode_sigmoid(self, z):
    return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))


SPECS = [
    Spec("vae_module", E.check_vae_module, MyVAE, MyVAE,  # float32 is the model's own precision
         [("nn.Sequential, other names, the decoder registered first", SequentialVAE)],
         [Wrong("no ReLU in the encoder", variant(encode=lambda self, x: (
             self.fc_mu(self.fc1(x.reshape(len(x), -1))), self.fc_logvar(self.fc1(x.reshape(len(x), -1))))),
                ("case 1 (", "encode", DIFF, "missing the ReLU", "fc1, fc_mu")),
          Wrong("decode_logits applies a sigmoid", variant(decode_logits=decode_sigmoid),
                ("case 1 (", "decode_logits", DIFF, "pixel means", "fc3, fc4")),
          Wrong("the two heads swapped", variant(encode=lambda self, x: MyVAE.encode(self, x)[::-1]),
                (DIFF, "swapped")),
          Wrong("hard-coded sizes 400 and 2", FixedSizes, ("case 2 (other sizes", "parameters", "ignore the sizes")),
          Wrong("no bias in the output layer", NoBias, ("case 1 (", "630,404 parameters", "631,188")),
          Wrong("exp(logvar) as the std", variant(reparameterize=lambda self, mu, lv: mu + lv.exp() * torch.randn_like(mu)),
                ("reparameterize", DIFF, "variance where the standard deviation belongs")),
          Wrong("forward returns flat pixel means", variant(forward=lambda self, x: (
              torch.sigmoid(self.decode_logits(self.reparameterize(*self.encode(x)))), *self.encode(x))),
                ("recon: wrong shape: got (4, 784), expected (4, 1, 28, 28)", "shaped like x")),
          Wrong("forward decodes mu", variant(forward=lambda self, x: (
              torch.sigmoid(self.decode_logits(self.encode(x)[0])).reshape(x.shape), *self.encode(x))),
                ("recon", DIFF, "decodes mu")),
          Wrong("forward detaches its outputs", variant(forward=lambda self, x: tuple(
              t.detach() for t in MyVAE.forward(self, x))), ("carry no gradient",)),
          Wrong("an instance instead of the class", MyVAE(), ("pass the class itself",), names_case=False)],
         stub=StubVAE),
    Spec("train_step", E.check_train_step, train_step, softplus_step,  # float32 models; the other style
         [("a 0-d tensor returned", lambda m, o, x: torch.tensor(train_step(m, o, x))),
          ("-Bernoulli(logits).log_prob + torch's Normal KL", bernoulli_step)],
         [Wrong("BCE through sigmoid probabilities (model(x), the reference script's loss_function)",
                reference_script_step, ("case 3 (", "confident", DIFF, "sigmoid probabilities")),
          Wrong("no zero_grad", step_variant(zero_grad=False), ("case 1 (", DIFF, "piled up")),
          Wrong("the batch sum reported", step_variant(per_image=False), (DIFF, "whole batch")),
          Wrong("no KL", step_variant(kl=False), (DIFF, "KL term seems to be missing")),
          Wrong("no optimizer step", step_variant(step=False), ("did not change",)),
          Wrong("a fresh Adam each step", step_variant(fresh_optimizer=True),
                ("case 1 (", DIFF, "first loss matches")),
          Wrong("the loss returned inside a list", lambda m, o, x: [train_step(m, o, x)],
                ("Python number",))]),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_exercise(spec):
    run_spec(spec)


def test_handing_the_work_to_the_package_is_no_pass():
    """vae_course.models.VAE itself, or a step through the package's ELBO, is the reference's work (issue 24, 4)."""
    from vae_course.objectives import model_elbo

    assert E.check_vae_module(E.EXERCISES["vae_module"].reference).verdict == "REFERENCE"

    def package_step(model, optimizer, x):
        optimizer.zero_grad()
        loss = model_elbo(model, x).total.mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    assert E.check_train_step(package_step).verdict == "REFERENCE"


def test_method_stubs_are_todo():
    half = variant(decode_logits=stub)  # __init__ and encode written, decode_logits not yet
    r = E.check_vae_module(half)
    assert r.verdict == "TODO" and r.message.startswith("TODO vae_module:")


def test_checks_leave_the_callers_random_state_alone():
    torch.manual_seed(123)
    before = torch.randn(3)
    torch.manual_seed(123)
    E.check_vae_module(MyVAE)
    E.check_train_step(train_step)
    assert torch.equal(torch.randn(3), before)


def test_the_reference_has_631188_parameters():
    model = E.EXERCISES["vae_module"].reference()
    assert sum(p.numel() for p in model.parameters()) == 631_188
    assert sum(p.numel() for p in MyVAE().parameters()) == 631_188


def test_mine_or_reference_gives_a_class_either_way(capsys):
    assert E.mine_or_reference(MyVAE, "vae_module") is MyVAE
    assert capsys.readouterr().out == "Using your vae_module (it passes its check).\n"
    ref = E.mine_or_reference(StubVAE, "vae_module")
    assert "Using the reference vae_module (yours is not written yet)" in capsys.readouterr().out
    assert isinstance(ref(), nn.Module) and E.check_vae_module(ref).verdict == "REFERENCE"
