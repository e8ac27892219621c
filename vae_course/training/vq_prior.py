"""Fitting notebook 12's learned prior over a VQ-VAE's codes, and caching it.

Used by notebook 12 (section 6). The VQ-VAE is trained first and kept fixed (van den Oord et al. 2017 do the same);
its code grids of the training images, cached by :func:`~vae_course.training.load_or_train_vqvae`, are the data. The
prior (:class:`~vae_course.models.code_prior.AutoregressiveCodePrior`) is fitted by maximum likelihood, that is by
minimising the mean of -log p(c) = -sum_i log p(c_i | c_<i) over the training grids (cross-entropy at each position),
with Adam and seeded batches. :func:`load_or_train_code_prior` trains it once per seed and keeps it, with every test
grid's log p(c), in the checkpoint folder.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from ..config import check_seed
from ..models.code_prior import AutoregressiveCodePrior, one_thread
from .fit_loop import make_adam


@dataclass
class CodePriorHistory:
    """What :func:`train_code_prior` logged: the mean training -log p(c) (nats per grid) of each epoch."""

    epoch: list[int] = field(default_factory=list)
    nll: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def codes_fingerprint(codes: torch.Tensor) -> str:
    """An exact identity of a set of code grids: the SHA-256 of their int64 values (shape included)."""
    if not isinstance(codes, torch.Tensor) or codes.is_floating_point() or codes.numel() == 0:
        raise TypeError("codes must be a non-empty integer tensor of code grids (N, 7, 7), e.g. a VQ run's "
                        "scores['train_codes'].")
    flat = codes.to(torch.int64).contiguous()
    return hashlib.sha256(repr(tuple(flat.shape)).encode() + flat.numpy().tobytes()).hexdigest()


def train_code_prior(prior: AutoregressiveCodePrior, codes: torch.Tensor, *, epochs: int, batch_size: int = 256,
                     lr: float = 2e-3, seed: int = 0) -> CodePriorHistory:
    """Fit ``prior`` to the grids ``codes (N, H, W)`` by maximum likelihood: Adam on the mean of -log p(c), with the
    learning rate decayed along a cosine to 0 over all the steps. Runs on one CPU thread
    (:func:`~vae_course.models.code_prior.one_thread` says why: on a shared 2-core machine it is 10-20 times faster)."""
    check_seed(seed)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}={value!r} must be a positive whole number.")
    flat = prior.check_codes(codes)  # (N, P) int64
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = make_adam(prior.parameters(), lr)
    per_epoch = math.ceil(flat.shape[0] / batch_size)
    total = epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    hist = CodePriorHistory()
    start = time.perf_counter()
    prior.train()
    with one_thread():
        _fit_epochs(prior, flat, opt, sched, hist, epochs=epochs, batch_size=batch_size, gen=gen)
    hist.seconds = time.perf_counter() - start
    prior.eval()
    return hist


def _fit_epochs(prior, flat, opt, sched, hist, *, epochs, batch_size, gen) -> None:
    """The epochs of :func:`train_code_prior`: seeded shuffles, one Adam step per batch, the mean nll per epoch."""
    k = prior.config.codebook_size
    per_epoch = math.ceil(flat.shape[0] / batch_size)
    for epoch in range(epochs):
        perm = torch.randperm(flat.shape[0], generator=gen)
        nll_sum = 0.0
        for b in range(per_epoch):
            cb = flat[perm[b * batch_size:(b + 1) * batch_size]]  # (B, P)
            logits = prior.logits_from_indices(cb)  # (B, P, K)
            nll = F.cross_entropy(logits.reshape(-1, k), cb.reshape(-1), reduction="sum") / cb.shape[0]  # per grid
            if not math.isfinite(nll.item()):
                raise FloatingPointError(f"the prior's loss became {nll.item()} at step {hist.steps}: lower lr.")
            opt.zero_grad(set_to_none=True)
            nll.backward()
            opt.step()
            sched.step()
            nll_sum += float(nll.detach()) * cb.shape[0]
            hist.steps += 1
        hist.epoch.append(epoch + 1)
        hist.nll.append(nll_sum / flat.shape[0])


def load_or_train_code_prior(name: str, train_codes: torch.Tensor, test_codes: torch.Tensor, *, epochs: int,
                             codebook_size: int = 64, d_model: int = 64, n_layers: int = 2, n_heads: int = 4,
                             batch_size: int = 256, lr: float = 2e-3, seed: int = 0, folder=None,
                             retrain: bool = False):
    """Fit notebook 12's autoregressive prior to ``train_codes`` (or load it from ``<checkpoint folder>/<name>.pt``
    when the key matches): a :class:`~vae_course.training.CachedRun` whose ``history`` is the
    :class:`CodePriorHistory` and whose ``scores`` hold ``log_prob``, each test grid's log p(c) ``(N,)`` float64.

    The key holds the prior's config, the training settings and the exact identity of both code sets, so a prior
    fitted to another VQ-VAE's codes is never loaded by mistake. The model is built after ``seed_everything(seed)``.
    """
    from ..config import seed_everything
    from .runs import load_or_train_run

    def build():
        seed_everything(seed)
        return AutoregressiveCodePrior(codebook_size, *train_codes.shape[1:], d_model=d_model, n_layers=n_layers,
                                       n_heads=n_heads)

    prior = build()
    prior.check_codes(train_codes), prior.check_codes(test_codes)
    key = {**prior.describe(), "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
           "trainer": "train_code_prior", "threads": 1, "n_train": int(train_codes.shape[0]),
           "train_codes": codes_fingerprint(train_codes), "n_test": int(test_codes.shape[0]),
           "test_codes": codes_fingerprint(test_codes)}

    def train():
        model = build()
        return model, train_code_prior(model, train_codes, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)

    def score(model):
        with torch.no_grad():
            return {"log_prob": model.log_prob(test_codes.long())}

    return load_or_train_run(name, key, train, score, history_type=CodePriorHistory, folder=folder, retrain=retrain)
