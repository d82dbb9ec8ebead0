"""Progress of a command on standard error: a live Rich display on a terminal (stage, best
plan, bound, gap in money and percent, elapsed time), plain lines otherwise (a pipe, a CI
log), so that a log reads the same as the terminal did, line by line."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from reshore.optimizer.commands.shared import money

if TYPE_CHECKING:
    from reshore.optimizer.solve import SolveProgress


STAGE_AFTER = (
    ("reading", "reading and validating the input"),
    ("validated", "preparing the network"),
    ("prepared", "building the model"),
    ("built", "handing the model to HiGHS"),
    ("handed", "solving"),
    ("HiGHS:", "reading the plan"),
    ("no plan meets", "solving the elastic model to find what cannot be met"),
    ("independent check", "writing the plan"),
)
"""The stage that follows a finished step, by the start of the step's progress line."""


def stage_after(message: str) -> str:
    """What the command does next, after the step `message` reports (the message itself when
    it is not a known step)."""
    return next((stage for start, stage in STAGE_AFTER if message.startswith(start)), message)


class Progress(Protocol):
    """Receives a command's progress; used as a context manager around the work."""

    def say(self, message: str) -> None:
        """One line of progress (solver lines that report numbers start with a space)."""

    def numbers(self, progress: SolveProgress) -> None:
        """The MIP's best plan, bound and gap as numbers."""

    def __enter__(self) -> Progress: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None: ...


class PlainProgress:
    """Every progress line as it comes, on standard error."""

    def say(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def numbers(self, progress: SolveProgress) -> None:
        """The plain lines already carry the numbers."""

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        return None


class LiveProgress:
    """A live display: finished steps scroll above it; the current stage (named after the last
    finished step, see `STAGE_AFTER`), elapsed time, and during the MIP its best plan, bound
    and gap stay at the bottom."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.perf_counter()
        self.stage = "starting"
        self.latest: SolveProgress | None = None
        self.spinner = Spinner("dots")
        self.live = Live(self, console=console, refresh_per_second=8, transient=True,
                         redirect_stdout=False, redirect_stderr=False)

    def say(self, message: str) -> None:
        if message[:1].isspace():  # a solver report or heartbeat: the display shows it
            if self.latest is None:
                self.stage = message.strip().split("  ")[-1]
            return
        self.live.console.print(Text(message, style="dim"))
        self.stage = stage_after(message)

    def numbers(self, progress: SolveProgress) -> None:
        self.latest = progress

    def __rich__(self) -> RenderableType:
        elapsed = time.perf_counter() - self.started
        head = Table.grid(padding=(0, 1))
        head.add_row(self.spinner, Text(f"{elapsed:6.1f} s", style="bold"),
                     Text(self.stage, overflow="ellipsis", no_wrap=True))
        if self.latest is None:
            return head
        figures = Table.grid(padding=(0, 3))
        p = self.latest
        gap = "-"
        if p.best_objective is not None and p.bound is not None:
            gap = money(p.best_objective - p.bound)
            if p.gap is not None:
                gap += f" ({100 * p.gap:.2f}%)"
        figures.add_row(f"best plan [bold]{money(p.best_objective)}[/]",
                        f"bound [bold]{money(p.bound)}[/]", f"gap [bold]{gap}[/]")
        return Group(head, figures)

    def __enter__(self) -> LiveProgress:
        self.live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.live.stop()


def progress_for(console: Console, live: bool = True) -> Progress:
    """A live display when `console` is a terminal (and `live`), plain lines otherwise."""
    if live and console.is_terminal and not console.is_dumb_terminal:
        return LiveProgress(console)
    return PlainProgress()
