"""The options commands share, checked as options: a value out of range is a usage error (exit
status 2, the message naming the option), found before anything is read or solved.

A command takes them as parameters typed with these aliases, e.g.
`def whatif_command(path: InstancePath = None, time_limit: TimeLimit = None) -> None`."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from reshore.data import FLAGSHIP_NAME


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


class RiskMeasure(StrEnum):
    expected = "expected"
    cvar = "cvar"
    worst_case = "worst_case"


InstancePath = Annotated[Path | None, typer.Argument(
    help="CSV folder, .xlsx or .json of the data contract.",
    show_default=f"the bundled flagship dataset '{FLAGSHIP_NAME}'")]
OutFolder = Annotated[Path | None, typer.Option(
    "--out", help="Folder for the plan's CSV files, plan.xlsx and summary.json; it must be a"
                  " folder that exists or can be created.",
    show_default="plans/<instance name>", callback=check_out_folder)]
TimeLimit = Annotated[float | None, typer.Option(
    "--time-limit", help="Wall-clock limit in seconds (> 0).", show_default="settings.solver",
    callback=number_in(0, low_open=True))]
Gap = Annotated[float | None, typer.Option(
    "--gap", help="Relative MIP gap at which to stop (>= 0).", show_default="settings.solver",
    callback=number_in(0))]
Threads = Annotated[int | None, typer.Option(
    "--threads", help="HiGHS threads.", show_default="settings.solver, else HiGHS's choice",
    min=1, max=available_cores())]
Seed = Annotated[int | None, typer.Option(
    "--seed", help="HiGHS random seed.", show_default="settings.solver", min=0)]
Risk = Annotated[RiskMeasure | None, typer.Option(
    "--risk", help="Risk measure of the objective.", show_default="settings.risk")]
Alpha = Annotated[float | None, typer.Option(
    "--alpha", help="CVaR confidence level, 0 < alpha < 1 (used with --risk cvar).",
    show_default="settings.risk", callback=number_in(0, 1, low_open=True, high_open=True))]
Weight = Annotated[float | None, typer.Option(
    "--weight", help="Risk weight lambda in [0, 1]: objective = (1 - lambda) expected cost"
                     " + lambda risk.", show_default="settings.risk", callback=number_in(0, 1))]
