"""Notebook 07's likelihood table, in full mode, as a markdown table for the README.

    python benchmarks/likelihood_table.py [--epochs 3] [--threads N]

The same ``VAE(784, 400, 20)``, from the same initial weights, trained the same number of epochs (Adam 1e-3, batch
128) under each decoder likelihood of :data:`vae_course.training.TABLE_SETUPS`, then scored on the whole test set
(10,000 images): test ELBO = -(reconstruction + KL), in nats per image, one reparameterized sample per image.

The column "test ELBO bounds" says what each test ELBO is a lower bound on (notebook 07, section 2). Read the table
by blocks, not across them: the binary rows bound log p(b) of binary images (a pmf on {0,1}^784, always <= 0); the
BCE row on grey levels g is, because BCE is linear in its target, exactly E_b[ELBO(b; q(.|g))] <= E_b[log p(b)] for
b ~ Bernoulli(g), so it is comparable with the binary rows (and, like them, contains the ~45.5 nats of binarization
entropy); the other rows are log-*densities* of grey levels on [0,1]^784 or R^784, which can be positive and change
with the units of x.
"""
from __future__ import annotations

import argparse
import time

import torch

from vae_course.data import load_mnist
from vae_course.training import format_table, likelihood_table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per likelihood (notebook 07 full mode: 3)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--plain", action="store_true", help="a plain-text table instead of markdown")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    n_train = len(load_mnist("train")[0])
    print(f"VAE 784-400-20, {args.epochs} epochs per row, {n_train:,} training images, "
          f"10,000 test images; torch {torch.__version__}, {torch.get_num_threads()} threads")
    start = time.perf_counter()
    rows = likelihood_table(args.epochs, verbose=True)
    print()
    print(format_table(rows, markdown=not args.plain))
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
