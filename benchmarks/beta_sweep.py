"""Notebook 09's experiments as a script: the beta sweep and the posterior-collapse remedies, as markdown tables.

    python benchmarks/beta_sweep.py [--epochs 2] [--ar-epochs 2] [--ar-lr 8e-3] [--quick] [--threads N]

Same settings as notebook 09 in full mode. The beta sweep: the MLP VAE 784-400-16 (Adam 1e-3, batch 128, seed 0) on
grey levels, tested on the grey test set, so its -ELBO is an upper bound on E_b[-log p(b)], the expected negative
log-likelihood of binarizations b ~ Bernoulli(grey) (notebook 07). The collapse runs: trained on dynamically
binarized images (a fresh draw every batch) and tested on the statically binarized test set (seed 0), so every
-ELBO there is an upper bound on -log p(x) of binary images: the MLP decoder (Adam 1e-3) as the reference, and the
autoregressive-decoder VAE with latent size 16 (Adam 8e-3 for 2 epochs of 469 steps on all 60,000 training images,
warm-up over 1, free bits 0.25 nats per dimension), seed 0 (notebook 09 adds seeds 1 and 2). ``--ar-lr 2e-3`` shows
the step size at which the code does not collapse within 2 epochs; ``--ar-epochs 6`` runs the remedies three times as
long.
All figures are **test-set** nats per image (single-sample ELBO, seeded), trained on every training image found (all
60,000 with the complete MNIST).
Active units use Burda et al.'s criterion ``Var_x(E_q[u]) > 0.01``.
"""
from __future__ import annotations

import argparse
import time

import torch

from vae_course.training import beta_sweep, remedy_runs

from vae_course.data import load_mnist
from vae_course.evaluation import markdown_table

BETAS = (0.5, 1.0, 2.0, 4.0, 8.0)


def epochs(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs per beta (notebook 09: 2)")
    parser.add_argument("--ar-epochs", type=int, default=2, help="epochs per collapse run (notebook 09: 2)")
    parser.add_argument("--ar-lr", type=float, default=8e-3, help="learning rate of the collapse runs (notebook 09)")
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--warmup-epochs", type=float, default=1.0, help="KL warm-up epochs (notebook 09: 1)")
    parser.add_argument("--free-bits", type=float, default=0.25)
    parser.add_argument("--quick", action="store_true", help="4,096 training and 2,000 test images")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    train_x, _ = load_mnist("train", limit=4096 if args.quick else None)
    test_x, _ = load_mnist("test", limit=2000 if args.quick else None)
    test_b, _ = load_mnist("test", binarize="static", limit=2000 if args.quick else None)
    print(f"data: {len(train_x):,} training images, {len(test_x):,} test images; latent size {args.latent_dim}\n")

    start = time.perf_counter()
    rows = beta_sweep(BETAS, train_x, test_x, latent_dim=args.latent_dim, epochs=args.epochs)
    for r in rows:
        r["active"] = f"{r['active_units']}/{r['latent_dim']}"
    print(f"### beta sweep: MLP VAE, {epochs(args.epochs)} each on grey levels (grey test set, nats per image; "
          f"-ELBO >= E_b[-log p(b)] over binarizations b)\n")
    print(markdown_table(rows, {"beta": "beta", "rate": "rate = KL", "distortion": "distortion = recon",
                                "neg_elbo": "-ELBO", "active": "active units"}))
    print(f"\n({time.perf_counter() - start:.0f} s)\n")

    start = time.perf_counter()
    mlp = beta_sweep((1.0,), train_x, test_b, latent_dim=args.latent_dim, epochs=args.ar_epochs,
                     binarize="dynamic")[0]
    mlp["run"] = "MLP decoder, beta = 1 (lr 1e-3)"
    runs = [mlp] + remedy_runs(train_x, test_b, epochs=args.ar_epochs, warmup_epochs=args.warmup_epochs,
                               free_bits=args.free_bits, lr=args.ar_lr, latent_dim=args.latent_dim)
    for r in runs[1:]:
        r["run"] = f"AR decoder, {r['run']}"
    for r in runs:
        r["active"] = f"{r['active_units']}/{r['latent_dim']}"
    print(f"### posterior collapse: autoregressive decoder, {epochs(args.ar_epochs)} at lr {args.ar_lr:g} on "
          f"dynamically binarized images (binary test set, nats per image; -ELBO >= -log p(x) of binary images)\n")
    print(markdown_table(runs, {"run": "run", "neg_elbo": "-ELBO", "distortion": "recon", "rate": "KL",
                                "active": "active units"}, digits=3))
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
