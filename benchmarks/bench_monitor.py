"""What the training monitor costs: ``fit`` with and without the monitor in ``callbacks=``, alternating, in one process.

    python benchmarks/bench_monitor.py [--rounds 6] [--threads 2] [--limit 0]

Three copies of the reference model (784-400-2, Adam 1e-3, batch 128, from the same initial weights) train one epoch
each in turn, round after round: without a monitor, with ``training_monitor(test_x, test_y)`` at its default
``every="epoch"``, and with ``every="50 steps"``. Each call is ``history.extend(fit(model, train_x, test_x, epochs=1, ...))``
as notebook 05 runs it (the test evaluation included), timed from the outside; the order of the three arms rotates
from round to round so that none always runs first. The first round's monitored epochs also draw the frame "before
training". Printed: the median seconds per epoch of each arm, the overhead against the unmonitored arm, and the
monitor's own time per frame (``monitor.latency_ms()``) and its sum as a share of the epochs' time (a steadier
figure on a shared machine than the difference of two medians; the first round's warm-up is left out). Goal: at most 10% at the default ``every`` on 2 CPU cores.
The losses of all three arms are printed too: the monitor must not change them (the same seeds give the same run).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from vae_course.data import load_mnist
from vae_course.models import VAE
from vae_course.training import History, fit
from vae_course.views import training_monitor

GOAL = 0.10
ARMS = (("no monitor", None), ("every='epoch' (default)", "epoch"), ("every='50 steps'", "50 steps"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="epochs per arm (default 6)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2, the course's budget)")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N images only (0: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train_x, _ = load_mnist("train", limit=args.limit or None)
    test_x, test_y = load_mnist("test")
    torch.manual_seed(0)
    start = VAE().state_dict()
    arms = []
    for name, every in ARMS:
        model = VAE()
        model.load_state_dict(start)
        monitor = None if every is None else training_monitor(test_x, test_y, every=every)
        arms.append({"name": name, "model": model, "monitor": monitor, "history": History(), "times": []})
    n = len(train_x)
    n_images = f"{n:,} training images"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n_images}, test set {len(test_x):,} images, "
          f"{args.rounds} rounds")
    for r in range(args.rounds):
        order = arms[r % 3:] + arms[:r % 3]
        for arm in order:
            t0 = time.perf_counter()
            arm["history"].extend(fit(arm["model"], train_x, test_x, epochs=1, seed=r, progress=False,
                                      callbacks=() if arm["monitor"] is None else arm["monitor"]))
            arm["times"].append(time.perf_counter() - t0)
            if r == 0 and arm["monitor"] is not None:
                arm["after_first"] = len(arm["monitor"].timings)  # the frames of round 1 (warm-up) come first
        print(f"round {r + 1}: " + ", ".join(f"{a['name']} {a['times'][-1]:.2f} s" for a in arms), flush=True)
    base = statistics.median(arms[0]["times"])
    print(f"\nmedian seconds per epoch (fit with its test evaluation): no monitor {base:.3f}")
    for arm in arms[1:]:
        med = statistics.median(arm["times"])
        lat = arm["monitor"].latency_ms()
        frames = len(arm["monitor"].frames)
        later = list(arm["monitor"].timings)[arm["after_first"]:] if args.rounds > 1 else list(arm["monitor"].timings)
        own = sum(later) / sum(arm["times"][1:] if args.rounds > 1 else arm["times"])
        print(f"  {arm['name']:<24} {med:.3f} s  overhead {100 * (med / base - 1):+.1f}%  "
              f"({frames} frames, {frames / args.rounds:.1f} per epoch; one frame p50 {lat['p50']:.1f} ms, "
              f"p95 {lat['p95']:.1f} ms; the monitor's own time: {100 * own:.1f}% of the epochs after the first)")
    default = statistics.median(arms[1]["times"]) / base - 1
    print(f"default every: overhead {100 * default:+.1f}% (goal: <= {100 * GOAL:.0f}%) -> "
          f"{'OK' if default <= GOAL else 'OVER'}")
    same = all(a["history"].test_loss == arms[0]["history"].test_loss for a in arms[1:])
    print(f"test -ELBO after {args.rounds} epochs (nats/image, full test set): "
          + ", ".join(f"{a['name']} {a['history'].test_loss[-1]:.4f}" for a in arms)
          + f" -> {'identical' if same else 'DIFFERENT'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
