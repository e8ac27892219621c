"""Command line (used by no notebook; the README documents it): ``python -m vae_course train ...`` (the reference script's job), ``... execute`` (notebooks), ``... student-edition`` and ``... grade`` (teaching).

    python -m vae_course train --epochs 10 --latent-dim 2 --out runs/reference
    python -m vae_course execute                 # every notebook, full mode, in place
    python -m vae_course execute --quick notebooks/05_train_vae.ipynb
    python -m vae_course student-edition student/   # the course without its solutions, for learners
    python -m vae_course grade submissions/ --csv grades.csv --timeout 600
    python -m vae_course site site/                # the static website, from the stored outputs (offline)
    python -m vae_course slides slides/                  # one offline reveal.js deck per lecture
    python -m vae_course tag-slides --check        # do the notebooks' slide types follow the convention?
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


def _int_at_least(minimum: int, maximum: int | None = None, top: str | None = None):
    """An argparse type: a whole number from ``minimum`` to ``maximum``, or an argparse-style error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}" if minimum
                                             else f"{text!r} must be 0 or more")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at most {top or f'{maximum:,}'}")
        return value

    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)
_seed = _int_at_least(0, 2**63 - 1, "2**63 - 1")
_size = _int_at_least(1, 100_000)  # layer widths: far beyond what trains in memory is a typo, not a request


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
    t.add_argument("--latent-dim", type=_size, default=2)
    t.add_argument("--hidden-dim", type=_size, default=400)
    t.add_argument("--batch-size", type=_positive_int, default=128)
    t.add_argument("--lr", type=_positive_float, default=1e-3)
    t.add_argument("--seed", type=_seed, default=0, help="0 to 2**63 - 1 (default 0)")
    t.add_argument("--data-dir", default=None, help="folder holding MNIST/raw (default: $VAE_COURSE_DATA or ./data)")
    t.add_argument("--out", default="runs/reference", help="output folder (default: runs/reference)")
    t.add_argument("--device", type=_device, default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    t.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bfloat16 matrix products where the hardware has them natively, else float32")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("execute", help="run notebooks top to bottom in place (the only way outputs are made)")
    e.add_argument("notebooks", nargs="*", help="notebook files (default: all of notebooks/, in order)")
    e.add_argument("--quick", action="store_true", help="quick mode (VAE_COURSE_QUICK=1) instead of full mode")
    e.add_argument("--timeout", type=_positive_float, default=1800.0, metavar="SECONDS",
                   help="time limit per cell in seconds (default: 1800); a notebook that runs past it is left as it "
                        "was")

    s = sub.add_parser("student-edition", help="write the student edition: solutions stubbed, answers and outputs "
                                               "removed")
    s.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the student notebooks into")
    s.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="course notebooks (default: all of notebooks/)")
    s.add_argument("--force", action="store_true",
                   help="write even into a folder holding files that this command did not write")
    s.add_argument("--nbgrader", action="store_true",
                   help="write nbgrader source notebooks instead (for an nbgrader course's source/ASSIGNMENT/ folder): "
                        "checker cells become autograded tests, solutions nbgrader solution cells")

    g = sub.add_parser("grade", help="run student notebooks in fresh kernels and tabulate every checker's verdict")
    g.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="student notebooks, or folders of them")
    g.add_argument("--csv", default="grades.csv", metavar="PATH", help="where to write the table as CSV "
                                                                      "(default: grades.csv)")
    g.add_argument("--timeout", type=_positive_float, default=600.0, metavar="SECONDS",
                   help="time limit per notebook in seconds (default: 600)")

    w = sub.add_parser("site", help="build the static website of the course from the stored outputs (offline)")
    w.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the site into (open OUT_DIR/index.html)")
    w.add_argument("--notebooks", default=None, metavar="DIR", help="folder of the course notebooks "
                                                                   "(default: notebooks/)")
    w.add_argument("--instructor", action="store_true",
                   help="the instructor's site: with the solutions, the predictions' answers and the instructor's answers")
    w.add_argument("--force", action="store_true",
                   help="write even into a folder holding files that this command did not write")

    d = sub.add_parser("slides", help="write the lecture decks (lecture-1.html ... and index.html), or one deck per "
                                      "NOTEBOOK named")
    d.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the decks into")
    d.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="notebooks (default: all of notebooks/)")
    d.add_argument("--force", action="store_true",
                   help="write even into a folder holding files that this command did not write")

    k = sub.add_parser("tag-slides", help="set every cell's slide type by the course's convention, in place")
    k.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="notebooks (default: all of notebooks/)")
    k.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook strays from it")
    return parser


def _writable_folder(out: Path) -> str | None:
    """Create ``out`` and prove that a file can be written in it; return what is wrong (one clause) or None."""
    import tempfile

    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"--out {out} is a file, not a folder: give the name of a folder (it is created if needed)"
    except NotADirectoryError:
        return f"--out {out} cannot be a folder because part of its path is a file: choose another --out"
    except OSError as exc:
        return f"--out {out} cannot be created ({exc.strerror or type(exc).__name__}): choose a folder you can write to"
    try:
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        return f"--out {out} cannot be written ({exc.strerror or type(exc).__name__}): choose a folder you can write to"
    return None


def _save_figure(images, path: Path, title: str, nrow: int, row_labels=None) -> None:
    """A titled grid of digits, 4x upscaled, as a PNG (matplotlib's Agg canvas; no window, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .views.viz import image_grid

    grid = image_grid(images, nrow=nrow).numpy()  # (H, W) grey levels, white padding
    scale = 4
    fig = Figure(figsize=(grid.shape[1] * scale / 100, grid.shape[0] * scale / 100 + 0.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, grid.shape[0] * scale / 100 / (grid.shape[0] * scale / 100 + 0.5)))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(title, fontsize=11)
    fig.savefig(path, dpi=100)


def train_command(args, parser: argparse.ArgumentParser) -> int:
    out = Path(args.out)
    problem = _writable_folder(out)  # first (before torch is even imported), so that no run is lost at the end
    if problem:
        print(f"error: {problem}.", file=sys.stderr)
        return 1

    import torch

    from .config import get_device, seed_everything
    from .data import DataNotFoundError, load_mnist
    from .models import VAE
    from .objectives import ELBO
    from .training import CheckpointError, TrainingDivergedError, autocast_dtype, fit, save_checkpoint

    try:
        device = get_device(args.device)
    except ValueError as exc:
        parser.error(f"argument --device: {exc}")
    try:
        train_x, _ = load_mnist("train", root=args.data_dir)
        test_x, _ = load_mnist("test", root=args.data_dir)
    except DataNotFoundError as exc:
        print(f"error: {exc.naming_root('--data-dir')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted while loading the data; nothing was trained or saved.", file=sys.stderr)
        return 130

    precision = "float32" if autocast_dtype(args.precision, device) is None else "bfloat16 mixed precision"
    print(f"Training VAE 784-{args.hidden_dim}-{args.latent_dim} on {len(train_x):,} images, testing on "
          f"{len(test_x):,}, device {device}, {precision}. Losses are negative ELBO in nats per image.", flush=True)
    seed_everything(args.seed)
    try:
        model = VAE(784, args.hidden_dim, args.latent_dim)
    except (RuntimeError, MemoryError):
        print(f"error: a VAE 784-{args.hidden_dim}-{args.latent_dim} does not fit in memory: choose a smaller "
              f"--hidden-dim or --latent-dim.", file=sys.stderr)
        return 1

    def report(epoch, hist):
        print(f"Epoch {epoch}, train loss: {hist.train_loss[-1]:.2f}, test loss: {hist.test_loss[-1]:.2f} "
              f"(recon {hist.test_recon[-1]:.2f} + KL {hist.test_kl[-1]:.2f})", flush=True)

    try:
        hist = fit(model, train_x, test_x, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                   seed=args.seed, device=device, progress=not args.no_progress, callbacks=[report],
                   objective=ELBO(precision=args.precision))
    except TrainingDivergedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if hist.interrupted and hist.epochs == 0:
        print("error: interrupted before the first epoch finished; nothing was saved.", file=sys.stderr)
        return 130
    model.cpu().eval()
    samples, reconstructions = out / "samples.png", out / "reconstructions.png"
    try:
        ckpt = save_checkpoint(model, out / "vae.pt", history=hist,
                               extra={"interrupted": hist.interrupted, "epochs_asked": args.epochs})
        gen = torch.Generator().manual_seed(args.seed)
        arch = f"VAE 784-{args.hidden_dim}-{args.latent_dim}, {hist.epochs} epoch{'s' if hist.epochs != 1 else ''}"
        _save_figure(model.sample(64, generator=gen), samples, f"64 samples from the prior ({arch})", nrow=8)
        with torch.no_grad():
            originals = test_x[:8]
            mu, _ = model.encode(originals)
            _save_figure(torch.cat([originals, model.decode(mu)]), reconstructions,
                         "top: test images, bottom: their reconstructions from the posterior mean", nrow=8)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: the results could not be written to --out {out} ({exc.strerror or type(exc).__name__}): check "
              f"the free disk space and that you can write there.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"error: interrupted while saving to --out {out}; the files there may be incomplete.", file=sys.stderr)
        return 130
    files = f"{ckpt}, {samples} and {reconstructions}"
    if hist.interrupted:
        print(f"interrupted after {hist.epochs} of {args.epochs} epochs: wrote {files}; the checkpoint is of an "
              f"interrupted run.", file=sys.stderr)
        return 130
    print(f"done: wrote {files} (top row: test images, bottom row: reconstructions from the posterior mean)")
    return 0


def _notebooks_of(args) -> list[Path]:
    """The notebooks a teaching command will read (its default: the course's), for the checks before it runs."""
    from .teaching.execute import course_notebooks

    if args.command == "site":
        folder = Path(args.notebooks) if args.notebooks else None
        return course_notebooks(folder) if folder is None or folder.is_dir() else []
    if args.command == "slides" and not args.notebooks:
        return []  # the lecture decks: their own checks name a missing figure label
    return [Path(p) for p in args.notebooks] if args.notebooks else course_notebooks()


def _check_teaching_inputs(args) -> str | None:
    """One sentence (without ``error:``) if a teaching command's notebooks are broken or ``VAE_COURSE_VENDOR`` names a
    file: checked here, before the command reads or writes anything."""
    from .teaching.notebook_io import check_notebooks, check_vendor_folder

    if args.command in ("site", "slides") and (problem := check_vendor_folder()):
        return problem
    if args.command in ("student-edition", "site", "slides", "tag-slides") and "\x00" in getattr(args, "out_dir", ""):
        return f"OUT_DIR {args.out_dir!r} contains a NUL byte, so it cannot be a folder name: check it."
    writable = args.command == "tag-slides" and not args.check
    return check_notebooks(_notebooks_of(args), writable=writable)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        try:
            return train_command(args, parser)
        except KeyboardInterrupt:  # between the steps that handle it themselves: nothing was saved
            print("error: interrupted; nothing was saved.", file=sys.stderr)
            return 130
    if args.command in ("student-edition", "site", "slides", "tag-slides"):
        problem = _check_teaching_inputs(args)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
    if args.command == "student-edition":
        from .teaching.student_edition import main as student_edition_main

        return student_edition_main(args.out_dir, args.notebooks, force=args.force, nbgrader=args.nbgrader)
    if args.command == "grade":
        from .teaching.grade import main as grade_main

        return grade_main(args.submissions, csv_path=args.csv, timeout=args.timeout)
    if args.command == "site":
        from .teaching.website import main as site_main

        return site_main(args.out_dir, args.notebooks, force=args.force, instructor=args.instructor)
    if args.command == "slides":
        from .teaching.slides import main as slides_main

        return slides_main(args.out_dir, args.notebooks, force=args.force)
    if args.command == "tag-slides":
        from .teaching.slides import tag_main

        return tag_main(args.notebooks, check=args.check)
    from .teaching.execute import main as execute_main

    return execute_main(args.notebooks, quick=args.quick, timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
