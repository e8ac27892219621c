"""The course's best model: train it (or load its checkpoint) and estimate its test log-likelihood with IWAE.

    python benchmarks/best_model.py [--k 1000] [--test-images 10000] [--retrain] [--threads N] [--quick]

Trains :class:`vae_course.models.DeepVAE` with the full-mode recipe of ``vae_course.training.best_recipe`` on
dynamically binarized MNIST and saves it to ``<checkpoint_dir>/best_vae_...pt``, the checkpoint notebook 08 loads
(a checkpoint made with the same recipe is reused unless ``--retrain``). Then it estimates the importance-weighted
bound L_k for k = 1, 10, 100, ..., ``--k`` on the first ``--test-images`` images of the fixed binarized test set (one
pass of ``--k`` samples per image, see ``vae_course.evaluation.iwae_curve``) and prints a markdown table for the README,
next to Burda et al. 2015 (Table 1: VAE 86.76, IWAE 84.78 nats). Their setup, from the authors' code
(github.com/yburda/iwae): 784-200-200-50 tanh MLPs, 59,600 training images (MNIST's 60,000 less 400 for
validation), dynamic binarization, 3,280 epochs (8 stages of 3^i, i = 0..7), batch 20, k = 5000 on all 10,000 test
images. Every figure bounds -log p(x) of binary test images (nats per image).
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from vae_course.data import load_mnist
from vae_course.evaluation import iwae
from vae_course.models import DeepVAE
from vae_course.training import deep_vae


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=1000, help="importance samples per test image (a power of 10)")
    parser.add_argument("--test-images", type=int, default=10_000, help="first N images of the test set")
    parser.add_argument("--retrain", action="store_true", help="train even if a matching checkpoint exists")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="the tiny quick-mode recipe (a smoke test)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = deep_vae.best_recipe(quick=args.quick)
    n_train = len(load_mnist("train", limit=recipe.train_limit)[0])
    print(f"recipe: {recipe}")
    print(f"{n_train:,} training images; torch {torch.__version__}, {torch.get_num_threads()} threads")

    if args.retrain:
        deep_vae.best_checkpoint_path(recipe).unlink(missing_ok=True)
    model, history, info = deep_vae.load_or_train_best_model(recipe, log_every=5)
    how = "loaded" if info["loaded"] else "trained"
    steps = len(history["train_loss"]) * math.ceil(n_train / recipe.batch_size)
    print(f"{how} {info['path']}: training took {info['seconds']:.0f} s wall time (from scratch, "
          f"{info.get('precision') or 'precision not recorded'}), {len(history['train_loss'])} epochs = {steps:,} "
          f"optimizer steps, {model.num_parameters():,} parameters")

    test_bin, _ = load_mnist("test", binarize="static", seed=1, limit=args.test_images)
    ks = [10**i for i in range(int(math.log10(args.k)) + 1)]
    if ks[-1] != args.k:
        raise SystemExit(f"--k {args.k} must be a power of 10 (1, 10, 100, 1000, ...).")
    start = time.perf_counter()
    curve = iwae.iwae_curve(model, test_bin, ks=ks, seed=0)
    seconds = time.perf_counter() - start
    n = len(test_bin)
    print(f"IWAE evaluation: {n:,} test images x {args.k} samples in {seconds:.0f} s\n")
    print("| k | test log p(x) >= L_k (nats) | test NLL <= | s.e. over images | L_k - L_1 |")
    print("|---|---|---|---|---|")
    for k in ks:
        gain = (curve[k] - curve[1]).mean().item()
        print(f"| {k} | {curve[k].mean():.2f} | {-curve[k].mean():.2f} | {curve[k].std() / math.sqrt(n):.2f} | "
              f"{gain:.2f} |")
    print()
    epochs = len(history["train_loss"])
    burda_size = DeepVAE(hidden_dims=(200, 200), latent_dim=50, activation="tanh").num_parameters()
    ours = "784-" + "-".join(str(h) for h in recipe.hidden_dims) + f"-{recipe.latent_dim} {recipe.activation.upper()}"
    images = f"{n:,}" if n == 10_000 else f"first {n:,}"
    se = (curve[args.k].std() / math.sqrt(n)).item()
    print("| model | architecture | parameters | training images | epochs | test images | k | test NLL <= (nats) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    print(f"| VAE, Burda et al. 2015 | 784-200-200-50 tanh | {burda_size:,} | 59,600 | 3,280 | 10,000 | 5000 | 86.76 |")
    print(f"| IWAE (k=50), Burda et al. 2015 | 784-200-200-50 tanh | {burda_size:,} | 59,600 | 3,280 | 10,000 | 5000 "
          f"| 84.78 |")
    print(f"| this course: DeepVAE | {ours} | {model.num_parameters():,} | {n_train:,} | {epochs} | {images} | "
          f"{args.k} | {-curve[args.k].mean():.2f} ± {se:.2f} |")


if __name__ == "__main__":
    main()
