"""What every `reshore` command shares: exit statuses, the two consoles, reading an instance.

The command modules import the solver's modules (pandas, Pyomo, HiGHS) inside the functions
that need them, so that `reshore --help`, `--version`, option errors and the service commands
start at once."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from reshore.data import FLAGSHIP_NAME, flagship_path

if TYPE_CHECKING:
    from reshore.optimizer.schema import Network

EXIT_PLAN = 0
"""A plan was found and passed the independent check (or the command did its job)."""
EXIT_NO_PLAN = 1
"""No plan: infeasible, time limit or stopped before a plan; or a service command failed."""
EXIT_INVALID = 2
"""The input is invalid, or the command line is (an unknown option, a value out of range)."""
EXIT_CHECK_FAILED = 3
"""A plan was found but the independent plan check found it wrong: do not use it."""
EXIT_NO_SERVICE = 4
"""A service command was run without the `service` extra installed."""
EXIT_UNEXPECTED = 5
"""An unexpected error inside reshore (a bug: the message says what; please report it)."""
EXIT_INTERRUPTED = 130
"""Stopped with Ctrl-C."""

Say = Callable[[str], None]
"""Receives one line of progress."""


def stdout() -> Console:
    """The console of results (summaries, tables, JSON): standard output."""
    return Console(highlight=False, soft_wrap=False)


def stderr() -> Console:
    """The console of progress and errors: standard error."""
    return Console(stderr=True, highlight=False)


def fail(message: str, status: int) -> typer.Exit:
    """Print `error: message` on standard error; the exception that exits with `status`."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return typer.Exit(status)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Within the block, whatever is written to standard output, by Python or by the solver's
    C++ code (the HiGHS log), goes to standard error: standard output carries results only."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        ctypes.CDLL(None).fflush(None)  # the C library's buffers, before the switch back
        os.dup2(saved, 1)
        os.close(saved)


def instance_source(path: Path | None) -> tuple[Path, str]:
    """Where the instance is read from and its name (the flagship dataset without a path)."""
    if path is None:
        return flagship_path(), FLAGSHIP_NAME
    return path, path.stem


def load_instance(path: Path | None, say: Say) -> Network:
    """Read and validate the instance at `path` (the flagship dataset without one), saying
    what was read; invalid input exits with EXIT_INVALID listing every error."""
    from reshore.optimizer.io import load_network
    from reshore.optimizer.schema import InvalidNetwork

    source, name = instance_source(path)
    say(f"reading {source if path is not None else f'the flagship dataset ({name})'}")
    started = time.perf_counter()
    try:
        network = load_network(source)
    except InvalidNetwork as error:
        raise fail(str(error), EXIT_INVALID) from None
    say(f"validated {len(network.sites)} sites, {len(network.offers)} offers,"
        f" {len(network.customers)} customers, {len(network.settings.periods)} periods,"
        f" {len(network.scenarios)} scenarios in {time.perf_counter() - started:.2f} s")
    return network


def money(value: float | None) -> str:
    """An amount as a planner reads it: $1.23 m, $4.567 bn, $890.00."""
    if value is None:
        return "-"
    if abs(value) >= 1e9:
        return f"${value / 1e9:,.3f} bn"
    if abs(value) >= 1e6:
        return f"${value / 1e6:,.2f} m"
    return f"${value:,.2f}"
