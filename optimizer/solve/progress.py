"""While HiGHS works: its log, MIP progress reports, a heartbeat through the silent phases,
the whole-solve time limit and the stop request."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import highspy

from reshore.optimizer.solve.options import SolveOptions, SolveProgress


class Deadline:
    """The time limit over the whole solve. HiGHS counts its limit per run and per phase (the
    sub-MIP that completes a MIP start has a clock of its own), so the callbacks also stop it
    once the wall-clock limit has passed."""

    def __init__(self, limit_s: float | None) -> None:
        self.limit_s = limit_s
        self.start()

    def start(self) -> None:
        """Start the clock (when the solve starts)."""
        self.started = time.perf_counter()
        self.at = None if self.limit_s is None else self.started + self.limit_s
        self.passed = False

    def reached(self) -> bool:
        if self.at is not None and time.perf_counter() > self.at:
            self.passed = True
        return self.passed


@contextlib.contextmanager
def heartbeat(options: SolveOptions, last_report: list[float]) -> Iterator[None]:
    """While HiGHS works without reporting (presolve, the root relaxation), say every
    `options.heartbeat_s` seconds that it is still working."""
    if options.progress is None:
        yield
        return
    progress, every = options.progress, options.heartbeat_s
    started, done = time.perf_counter(), threading.Event()

    def beat() -> None:
        while not done.wait(every):
            now = time.perf_counter()
            if now - last_report[0] >= every:
                last_report[0] = now
                progress(f"  {now - started:6.1f} s  still working")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def attach_callbacks(h: highspy.Highs, options: SolveOptions, log: list[str],
                     money_unit: float, deadline: Deadline,
                     lp_bound: list[float] | None = None) -> list[float]:
    """Keep the solver log, report MIP progress every few seconds, and stop when asked to.
    The reported bound is the MIP's or `lp_bound[0]` (the LP relaxation's, when the solve
    has one), the better.
    Returns the one-element list holding the time of the last report (shared with the
    heartbeat)."""
    last_report = [time.perf_counter()]

    def on_log(event: Any) -> None:
        log.append(str(event.message).rstrip("\n"))

    def on_mip(event: Any) -> None:
        if deadline.reached() or (options.should_stop is not None and options.should_stop()):
            event.interrupt()
        now = time.perf_counter()
        elapsed = now - deadline.started
        if now - last_report[0] < options.progress_every_s or (
                options.progress is None and options.on_progress is None):
            return
        last_report[0] = now
        out = event.data_out
        best, bound, gap = out.mip_primal_bound, out.mip_dual_bound, out.mip_gap
        if lp_bound is not None and lp_bound[0] > bound:
            bound = lp_bound[0]
            if abs(best) < highspy.kHighsInf:
                gap = max(0.0, best - bound) / max(1.0, abs(best))
        best, bound = best * money_unit, bound * money_unit
        if options.on_progress is not None:
            finite = abs(best) < highspy.kHighsInf
            options.on_progress(SolveProgress(
                elapsed_s=elapsed, best_objective=best if finite else None,
                bound=bound if abs(bound) < highspy.kHighsInf else None,
                gap=float(gap) if finite else None))
        if options.progress is None:
            return
        has_bound = abs(bound) < highspy.kHighsInf
        bound_text = f"bound {bound:,.0f}" if has_bound else "no bound yet"
        if abs(best) < highspy.kHighsInf:
            gap_text = f"  gap {100 * gap:.2f}%" if has_bound else ""
            options.progress(f"  {elapsed:6.1f} s  best plan {best:,.0f}"
                             f"  {bound_text}{gap_text}")
        else:
            options.progress(f"  {elapsed:6.1f} s  no plan yet, {bound_text}")

    def on_lp(event: Any) -> None:
        if deadline.reached() or (options.should_stop is not None and options.should_stop()):
            event.interrupt()

    h.cbLogging += on_log
    h.cbMipInterrupt += on_mip
    h.cbSimplexInterrupt += on_lp
    h.cbIpmInterrupt += on_lp
    return last_report
