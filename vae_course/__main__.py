"""Command line (used by no notebook; the README documents it): ``python -m vae_course train ...`` (the reference script's job) and ``... execute`` (notebooks).

    python -m vae_course train --epochs 10 --latent-dim 2 --out runs/reference
    python -m vae_course execute                 # every notebook, full mode, in place
    python -m vae_course execute --quick notebooks/05_train_vae.ipynb
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


def _int_at_least(minimum: int):
    """An argparse type: a whole number >= ``minimum``, or an argparse-style error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}" if minimum
                                             else f"{text!r} must be 0 or more")
        return value

    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _device(text: str) -> str:
    if text.lower() not in ("auto", "cpu", "cuda", "mps") and not text.lower().startswith("cuda:"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device: use auto, cpu, cuda or mps")
    return text.lower()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vae_course", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the reference MNIST VAE and write samples, reconstructions, checkpoint")
    t.add_argument("--epochs", type=_positive_int, default=10)
    t.add_argument("--latent-dim", type=_positive_int, default=2)
    t.add_argument("--hidden-dim", type=_positive_int, default=400)
    t.add_argument("--batch-size", type=_positive_int, default=128)
    t.add_argument("--lr", type=_positive_float, default=1e-3)
    t.add_argument("--seed", type=_non_negative_int, default=0)
    t.add_argument("--data-dir", default=None, help="folder holding MNIST/raw (default: $VAE_COURSE_DATA or ./data)")
    t.add_argument("--out", default="runs/reference", help="output folder (default: runs/reference)")
    t.add_argument("--device", type=_device, default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    t.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bfloat16 matrix products where the hardware has them natively, else float32")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("execute", help="run notebooks top to bottom in place (the only way outputs are made)")
    e.add_argument("notebooks", nargs="*", help="notebook files (default: all of notebooks/, in order)")
    e.add_argument("--quick", action="store_true", help="quick mode (VAE_COURSE_QUICK=1) instead of full mode")
    return parser


def train_command(args, parser: argparse.ArgumentParser) -> int:
    import torch
    from torchvision.utils import save_image

    from .checkpoints import save_checkpoint
    from .config import get_device, seed_everything
    from .data import DataNotFoundError, load_mnist
    from .models import VAE
    from .train import TrainingDivergedError, fit

    try:
        device = get_device(args.device)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        train_x, _ = load_mnist("train", root=args.data_dir)
        test_x, _ = load_mnist("test", root=args.data_dir)
    except DataNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from .train import autocast_dtype

    precision = "float32" if autocast_dtype(args.precision, device) is None else "bfloat16 mixed precision"
    print(f"Training VAE 784-{args.hidden_dim}-{args.latent_dim} on {len(train_x):,} images, testing on "
          f"{len(test_x):,}, device {device}, {precision}. Losses are negative ELBO in nats per image.", flush=True)
    seed_everything(args.seed)
    model = VAE(784, args.hidden_dim, args.latent_dim)

    def report(epoch, hist):
        print(f"Epoch {epoch}, train loss: {hist.train_loss[-1]:.2f}, test loss: {hist.test_loss[-1]:.2f} "
              f"(recon {hist.test_recon[-1]:.2f} + KL {hist.test_kl[-1]:.2f})", flush=True)

    try:
        hist = fit(model, train_x, test_x, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                   seed=args.seed, device=device, progress=not args.no_progress, on_epoch_end=report,
                   precision=args.precision)
    except TrainingDivergedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    model.cpu()
    ckpt = save_checkpoint(model, out / "vae.pt", history=hist)
    gen = torch.Generator().manual_seed(args.seed)
    save_image(model.sample(64, generator=gen), out / "samples.png", nrow=8)
    with torch.no_grad():
        originals = test_x[:8]
        mu, _ = model.encode(originals)
        save_image(torch.cat([originals, model.decode(mu)]), out / "reconstructions.png", nrow=8)
    state = "interrupted" if hist.interrupted else "done"
    print(f"{state}: wrote {ckpt}, {out / 'samples.png'} and {out / 'reconstructions.png'} "
          f"(top row: test images, bottom row: reconstructions from the posterior mean)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        return train_command(args, parser)
    from .execute import main as execute_main

    return execute_main(args.notebooks, quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
