"""Per-epoch training time: the reference script's DataLoader loop against ``vae_course.train.fit``.

    python benchmarks/bench_train.py [--epochs 10] [--threads N]

Both train the reference configuration (784-400-2, Adam 1e-3, batch 128, BCE(sum) + KL) from the same initial
weights, one epoch each in turn (alternating, in one process, so both see the same machine state). Printed per
epoch: seconds, the ratio, images/s and effective GFLOP/s (3.15 MFLOP per image for forward + backward). At the end
both models are scored with the same function (test negative ELBO in nats per image), since the goal is speed *at
the same loss*: ``fit`` should be >= 3x faster per epoch and within 1 nat of the reference after the same epochs.

The baseline loop is the reference script's, line for line: ``DataLoader(MNIST(transform=ToTensor()),
batch_size=128, shuffle=True)``, ``model(data)`` -> ``loss_function(recon, data, mu, logvar)`` summed over the batch.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from vae_course.config import data_root
from vae_course.data import load_mnist
from vae_course.losses import reference_loss
from vae_course.models import VAE
from vae_course.train import History, evaluate, fit, make_adam

FLOP_PER_IMAGE = 3.15e6  # forward + backward of the 784-400-2 MLP VAE


def reference_epoch(model, optimizer, loader) -> float:
    """One epoch of the reference script's ``train(epoch)``; returns its summed loss divided by images."""
    model.train()
    train_loss = 0.0
    for data, _ in loader:
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = reference_loss(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    return train_loss / len(loader.dataset)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from torchvision import datasets, transforms

    dataset = datasets.MNIST(str(data_root()), train=True, download=False, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True)
    train_x, _ = load_mnist("train")
    test_x, _ = load_mnist("test")
    n = len(train_x)

    torch.manual_seed(0)
    ref_model = VAE()
    fit_model = VAE()
    fit_model.load_state_dict(ref_model.state_dict())
    ref_opt = torch.optim.Adam(ref_model.parameters(), lr=1e-3)
    fit_opt = make_adam(fit_model.parameters(), 1e-3)  # what fit uses by default
    hist = History()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n:,} training images "
          f"({'the 22,699-image prefix of MNIST train' if n == 22699 else 'MNIST train'}), batch 128")
    print(f"{'epoch':>5} | {'reference s':>11} | {'fit s':>7} | {'speed-up':>8} | {'ref img/s':>9} | "
          f"{'fit img/s':>9} | {'ref GFLOP/s':>11} | {'fit GFLOP/s':>11}")
    ref_times, fit_times = [], []
    for epoch in range(1, args.epochs + 1):
        torch.manual_seed(epoch)
        t0 = time.perf_counter()
        reference_epoch(ref_model, ref_opt, loader)
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        fit(fit_model, train_x, epochs=1, optimizer=fit_opt, seed=epoch, progress=False, history=hist)
        t_fit = time.perf_counter() - t0
        ref_times.append(t_ref)
        fit_times.append(t_fit)
        print(f"{epoch:>5} | {t_ref:>11.2f} | {t_fit:>7.2f} | {t_ref / t_fit:>7.2f}x | {n / t_ref:>9,.0f} | "
              f"{n / t_fit:>9,.0f} | {n * FLOP_PER_IMAGE / t_ref / 1e9:>11.2f} | "
              f"{n * FLOP_PER_IMAGE / t_fit / 1e9:>11.2f}", flush=True)
    med_ref, med_fit = statistics.median(ref_times), statistics.median(fit_times)
    ref_eval, fit_eval = evaluate(ref_model, test_x), evaluate(fit_model, test_x)
    print(f"median: reference {med_ref:.2f} s/epoch, fit {med_fit:.2f} s/epoch, speed-up {med_ref / med_fit:.2f}x "
          f"(goal >= 3x)")
    print(f"test negative ELBO after {args.epochs} epochs (nats/image, full 10k test set): reference "
          f"{ref_eval['loss']:.2f}, fit {fit_eval['loss']:.2f}, difference "
          f"{abs(ref_eval['loss'] - fit_eval['loss']):.2f} (goal <= 1 nat)")


if __name__ == "__main__":
    main()
