"""Option values checked as options: a value out of range is a usage error (exit status 2,
click's message naming the option), found before anything is read or solved."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import typer


def number_in(low: float | None = None, high: float | None = None, *,
              low_open: bool = False, high_open: bool = False) -> Callable[[float | None],
                                                                          float | None]:
    """A Typer callback accepting a finite number within [low, high] (an end excluded when
    `*_open`); anything else (`nan` and `inf` too) is an option error naming the option."""
    left = "" if low is None else f"{low:g} {'<' if low_open else '<='} "
    right = "" if high is None else f" {'<' if high_open else '<='} {high:g}"
    allowed = f"{left}x{right}"

    def checked(value: float | None) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value):
            raise typer.BadParameter(f"{value} is not a finite number.")
        if ((low is not None and (value < low or (low_open and value == low)))
                or (high is not None and (value > high or (high_open and value == high)))):
            raise typer.BadParameter(f"{value:g} is not in the range {allowed}.")
        return value

    return checked


def available_cores() -> int:
    """Processor cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity (macOS, Windows)
        return os.cpu_count() or 1


def writable_folder_problem(folder: Path) -> str | None:
    """Why the plan cannot be written to `folder` (None when it can), found by trying: the
    folder is created if missing and a file written in it and removed; folders created for
    the trial are removed again."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} exists and is not a folder"
    created: list[Path] = []
    try:
        for part in reversed([folder, *folder.parents]):
            if not part.exists():
                part.mkdir()
                created.append(part)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return f"{folder} cannot be written: {error.strerror or error}"
    finally:
        for part in reversed(created):
            with contextlib.suppress(OSError):
                part.rmdir()
    return None


def check_out_folder(value: Path | None) -> Path | None:
    """`--out`: a folder that exists or can be created, and can be written."""
    if value is not None and (problem := writable_folder_problem(value)) is not None:
        raise typer.BadParameter(problem)
    return value
