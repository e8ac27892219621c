"""The course's best model: train it (or load its checkpoint) and estimate its test log-likelihood with IWAE.

    python benchmarks/best_model.py [--k 1000] [--test-images 10000] [--retrain] [--threads N] [--quick]
    python benchmarks/best_model.py --recipe burda [--seeds 0 1 2] [--k 5000] [--test-images 10000] [--quick]

Trains :class:`vae_course.models.DeepVAE` with the full-mode recipe of ``vae_course.training.best_recipe`` on
dynamically binarized MNIST and saves it to ``<checkpoint_dir>/best_vae_...pt``, the checkpoint notebook 08 loads
(a checkpoint made with the same recipe is reused unless ``--retrain``). Then it estimates the importance-weighted
bound L_k for k = 1, 10, 100, ..., ``--k`` on the first ``--test-images`` images of the fixed binarized test set (one
pass of ``--k`` samples per image, see ``vae_course.evaluation.iwae_curve``) and prints a markdown table for the README,
next to Burda et al. 2015 (Table 1: VAE 86.76, IWAE 84.78 nats). Their setup, from the authors' code
(github.com/yburda/iwae): 784-200-200-50 tanh MLPs, 59,600 training images (MNIST's 60,000 less 400 for
validation), dynamic binarization, 3,280 epochs (8 stages of 3^i, i = 0..7), batch 20, k = 5000 on all 10,000 test
images. Every figure bounds -log p(x) of binary test images (nats per image).

``--recipe burda`` trains (or loads) the model of ``vae_course.training.best_model.burda_recipe`` (issue 28 §2: ELBO
then the importance-weighted bound with the DReG gradient, weight averaging) once per ``--seeds`` seed, from scratch,
and prints per seed the training wall time and -L_k (k = 5000 by default) ± its standard error over the test images,
then the mean ± standard deviation over the seeds beside Burda et al.'s Table 1 and the list of what still differs.
Scores are cached with the checkpoints (a fingerprint of the weights is the key): a rerun prints them at once.
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from vae_course.data import load_mnist
from vae_course.evaluation import iwae
from vae_course.models import DeepVAE
from vae_course.training import best_model, deep_vae

def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=("best", "burda"), default="best",
                        help="best: notebook 08's model (default); burda: the issue 28 recipe, over --seeds")
    parser.add_argument("--k", type=int, default=None,
                        help="importance samples per test image (best: a power of 10, default 1000; burda: 5000)")
    parser.add_argument("--test-images", type=int, default=10_000, help="first N images of the test set")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (burda recipe), e.g. 0 1 2")
    parser.add_argument("--retrain", action="store_true", help="train even if a matching checkpoint exists")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="the tiny quick-mode recipe (a smoke test)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.test_images <= 0:
        raise SystemExit(f"--test-images {args.test_images} must be a positive number of test images (at most 10000).")
    if args.recipe == "burda":
        return burda_main(args)
    if args.k is None:
        args.k = 1000
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
    if args.k <= 0:
        raise SystemExit(f"--k {args.k} must be a power of 10 (1, 10, 100, 1000, ...).")
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


def burda_main(args) -> None:
    """``--recipe burda``: train or load one model per seed, score -L_k on the test images, print the comparison."""
    k = 5000 if args.k is None else args.k
    if k <= 0:
        raise SystemExit(f"--k {k} must be a positive number of importance samples, e.g. 5000.")
    if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        raise SystemExit(f"--seeds {' '.join(map(str, args.seeds))} must be different whole numbers >= 0, e.g. 0 1 2.")
    if args.quick:
        k = min(k, 50)
    recipes = [best_model.burda_recipe(quick=args.quick, seed=seed) for seed in args.seeds]
    n_train = len(load_mnist("train", limit=recipes[0].train_limit)[0])
    test_bin, _ = load_mnist("test", binarize="static", seed=1, limit=200 if args.quick else args.test_images)
    n = len(test_bin)
    print(f"recipe: {recipes[0].describe().rsplit(', seed', 1)[0]}")
    print(f"{n_train:,} training images (binarized afresh every batch); test: the first {n:,} images of "
          f"load_mnist('test', binarize='static', seed=1), one fixed Bernoulli draw of the grey levels; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = []
    for recipe in recipes:
        if args.retrain:
            best_model.burda_checkpoint_path(recipe).unlink(missing_ok=True)
        model, history, info = best_model.load_or_train_burda_model(recipe, log_every=10)
        if info.get("interrupted"):
            raise SystemExit("training was interrupted: nothing is scored.")
        name = best_model.burda_checkpoint_path(recipe).stem
        bound, how = best_model.score_bound(model, test_bin, k, name=name)
        nll, se = -bound.mean().item(), (bound.std() / math.sqrt(n)).item()
        rows.append((recipe.seed, info["seconds"], nll, se))
        print(f"seed {recipe.seed}: {'loaded' if info['loaded'] else 'trained'} {info['path']}: training took "
              f"{info['seconds']:.0f} s wall time from scratch ({info.get('threads')} threads, {info.get('steps'):,} "
              f"steps, {info.get('precision')}); -L_{k} = {nll:.2f} ± {se:.2f} (s.e. over {n:,} images; scoring "
              f"{'loaded from its cache, it took' if how['loaded'] else 'took'} {how['seconds']:.0f} s)", flush=True)
    nlls = torch.tensor([r[2] for r in rows], dtype=torch.float64)
    spread = f" ± {nlls.std().item():.2f} (std over {len(rows)} seeds)" if len(rows) > 1 else " (one seed: no spread)"
    print(f"\nbest model (this recipe): -L_{k} = {nlls.mean().item():.2f}{spread}; training "
          f"{max(r[1] for r in rows) / 60:.1f} min at most per seed\n")
    print("| model | test NLL <= (nats) |")
    print("|---|---:|")
    for label, value in best_model.BURDA_TABLE_1:
        print(f"| Burda et al. 2015, {label} | {value:.2f} |")
    for seed, _, nll, se in rows:
        print(f"| this course, seed {seed} | {nll:.2f} ± {se:.2f} |")
    print("\nWhat still differs from Burda et al.'s one-layer IWAE (their setting first):")
    for line in best_model.burda_differences(recipes[0], train_images=n_train, k=k, test_images=n):
        print(f"- {line}")


if __name__ == "__main__":
    main()
