"""Per-epoch training time: the reference script's DataLoader loop against ``vae_course.training.fit``.

    python benchmarks/bench_train.py [--epochs 10] [--threads N]

Three runs train the reference configuration (784-400-2, Adam 1e-3, batch 128, BCE(sum) + KL) from the same
initial weights, in one process: the reference loop, ``fit(objective=ELBO(precision="fp32"))`` and
``fit(objective=ELBO(precision="auto"))`` (fit's default: bfloat16 matrix products where the CPU has them natively,
else float32); each fit is one call of all the epochs, timed per epoch by its ``History.epoch_seconds``. Printed per epoch: seconds, the speed-up over the reference,
images/s and effective GFLOP/s (3.15 MFLOP per image for forward + backward). At the end every model is scored with
the same function (test negative ELBO in nats per image), since the goal is speed *at the same loss*: ``fit`` should
be >= 3x faster per epoch and within 1 nat of the reference after the same epochs.

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
from vae_course.evaluation import evaluate
from vae_course.models import VAE
from vae_course.objectives import ELBO, reference_loss
from vae_course.training import autocast_dtype, fit

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
    ref_opt = torch.optim.Adam(ref_model.parameters(), lr=1e-3)  # the reference script's optimizer
    runs = {}  # fit with each precision: model, history, times (from the history: one fit call of all the epochs)
    for precision in ("fp32", "auto"):
        model = VAE()
        model.load_state_dict(ref_model.state_dict())  # same initial weights for all three
        runs[precision] = (model, None, None, [])
    auto_label = "fp32" if autocast_dtype("auto", torch.device("cpu")) is None else "bf16-mixed"

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n:,} training images "
          f"(MNIST train), batch 128; "
          f"ELBO(precision='auto') runs {auto_label} on this CPU")
    print(f"{'epoch':>5} | {'reference s':>11} | {'fit fp32 s':>10} | {'fit auto s':>10} | {'x fp32':>6} | "
          f"{'x auto':>6} | {'ref img/s':>9} | {'auto img/s':>10} | {'ref GFLOP/s':>11} | {'fp32 GFLOP/s':>12} | "
          f"{'auto GFLOP/s':>12}")
    ref_times = []
    gflops = lambda seconds: n * FLOP_PER_IMAGE / seconds / 1e9  # noqa: E731
    for epoch in range(1, args.epochs + 1):
        torch.manual_seed(epoch)
        t0 = time.perf_counter()
        reference_epoch(ref_model, ref_opt, loader)
        ref_times.append(time.perf_counter() - t0)
    for precision, (model, _, _, times) in runs.items():  # one fit per precision, Adam's state kept across epochs
        hist = fit(model, train_x, objective=ELBO(precision=precision), epochs=args.epochs, seed=1, progress=False)
        times.extend(hist.epoch_seconds)
    for epoch in range(1, args.epochs + 1):
        t_ref, t32, tauto = ref_times[epoch - 1], runs["fp32"][3][epoch - 1], runs["auto"][3][epoch - 1]
        print(f"{epoch:>5} | {t_ref:>11.2f} | {t32:>10.2f} | {tauto:>10.2f} | {t_ref / t32:>5.2f}x | "
              f"{t_ref / tauto:>5.2f}x | {n / t_ref:>9,.0f} | {n / tauto:>10,.0f} | {gflops(t_ref):>11.1f} | "
              f"{gflops(t32):>12.1f} | {gflops(tauto):>12.1f}", flush=True)
    med_ref = statistics.median(ref_times)
    ref_loss = evaluate(ref_model, test_x)["loss"]
    print(f"median seconds per epoch: reference {med_ref:.2f}, "
          + ", ".join(f"fit {p} {statistics.median(r[3]):.2f} ({med_ref / statistics.median(r[3]):.2f}x)"
                      for p, r in runs.items()) + "   (goal: >= 3x)")
    print(f"test negative ELBO after {args.epochs} epochs (nats/image, full 10k test set): reference {ref_loss:.2f}, "
          + ", ".join(f"fit {p} {evaluate(r[0], test_x)['loss']:.2f}" for p, r in runs.items())
          + "   (goal: within 1 nat of the reference)")


if __name__ == "__main__":
    main()
