"""Output folders the teaching commands may write into: empty ones, or ones the same command wrote before.

Used by no notebook; by ``python -m vae_course student-edition OUT``, ``site OUT`` and ``slides OUT``
(:mod:`~vae_course.teaching.student_edition`, :mod:`~vae_course.teaching.website`, :mod:`~vae_course.teaching.slides`),
so that none of them overwrites a learner's edited notebook or a page it did not make. A command that writes a folder
leaves a marker file in it (``.vae_course-<command>``); the next run of the same command may write there again.
``--force`` writes anyway.
"""
from __future__ import annotations

import os
from pathlib import Path

MARKER = ".vae_course-{command}"

__all__ = ["MARKER", "claim_output_folder", "output_marker"]


def output_marker(out: str | os.PathLike, command: str) -> Path:
    """The marker file of ``command`` in ``out``."""
    return Path(out) / MARKER.format(command=command)


def claim_output_folder(out: str | os.PathLike, command: str, *, force: bool = False) -> str | None:
    """Check that ``command`` may write into ``out`` and leave its marker there; return what is wrong (one sentence
    without the final stop) or None. ``out`` may be missing (it is created), empty, or hold ``command``'s marker."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        return f"{out} is a file, not a folder: give the name of a folder (it is created if needed)"
    if out.is_dir() and not force and not output_marker(out, command).is_file():
        try:
            entries = sorted(p.name for p in out.iterdir())
        except OSError as exc:
            return f"{out} cannot be read ({exc.strerror or type(exc).__name__}): choose a folder you can write to"
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            return (f"{out} already holds files that {command} did not write ({shown}): choose an empty or new "
                    f"folder, or add --force to write over them")
    try:
        out.mkdir(parents=True, exist_ok=True)
        output_marker(out, command).write_text(f"written by python -m vae_course {command}; it may write here again\n",
                                         encoding="utf-8")
    except OSError as exc:
        return f"{out} cannot be written ({exc.strerror or type(exc).__name__}): choose a folder you can write to"
    return None
