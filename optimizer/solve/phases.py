"""The phases of a MIP solve, within one time limit, with the cancel checked between them
and the best plan and bound reported as each phase improves them:

1. a caller's start (`SolveOptions.mip_start`), the idle plan (nothing built, demand
   unmet; only where unmet demand is allowed) and the greedy construction, each solved as
   a restricted model (`optimizer.heuristics`);
2. the LP rounds (`optimizer.solve.rounds`) with rows held back, else the LP relaxation on
   an instance of HiGHS of its own (`heuristics.solve_relaxation`); where the solve may use
   more than one thread (`SolveOptions.concurrent_relaxation`), that relaxation runs on a
   thread of its own from the start, beside phase 1;
3. LP-guided fixing: the relaxation's decisions rounded, solved as restricted models (on
   models large enough for the relaxation by scenario, the greedy and LP-guided starts have
   their flows solved one scenario at a time first: `by_scenario.plan_by_scenario`);
4. the MIP from the best plan found (HiGHS `setSolution`), solved again while its answer
   violates a held-back row.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np

from reshore.models.built import BuiltModel
from reshore.optimizer import heuristics
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.solve.by_scenario import plan_by_scenario, relaxation_by_scenario
from reshore.optimizer.solve.handoff import HandOff, LpArrays
from reshore.optimizer.solve.options import SolveOptions, SolveProgress
from reshore.optimizer.solve.progress import Deadline
from reshore.optimizer.solve.rounds import add_violated_rows, lp_rounds


@dataclass
class MipResult:
    """What the phases leave besides HiGHS's own answer."""

    lp_bound: float
    """The last LP round's bound, a lower bound of the whole model (-inf when none)."""
    start: heuristics.Start | None
    """The best plan of the restricted solves (None when none found one)."""
    mip_ran: bool
    """Whether the MIP ran (not when the time limit or a cancel came first)."""
    out_of_time: bool = False
    """The MIP did not start: less time was left than the relaxation took (see
    `too_little_time_for_the_mip`), so the solve ends as at its time limit."""


def solve_mip(h: highspy.Highs, handoff: HandOff, built: BuiltModel,
              data: PreparedNetwork | None, options: SolveOptions, log: list[str],
              deadline: Deadline, money_unit: float, lp_bound: list[float],
              give_start: Callable[[], None] | None = None,
              as_built: bool = True) -> MipResult:
    """Run the phases (see the module docstring) on `h`, which holds `handoff.lp`. The LP
    bound is also left in `lp_bound[0]` for the MIP's progress reports; `data` (the prepared
    network) enables the greedy construction. `give_start` hands HiGHS a caller's start of
    its own (a replan's previous plan) when the phases found no plan. `as_built`: the model
    is `data`'s as `network_design.build` makes it (no decision fixed, no term added), which
    the relaxation by scenario needs."""
    lp, held = handoff.lp, handoff.held

    def stopping() -> bool:
        return deadline.reached() or (options.should_stop is not None and options.should_stop())

    best: list[heuristics.Start] = []
    large = (lp.num_col_ >= options.starts_min_columns
             and handoff.integers >= options.starts_min_integers)
    construct, lp_guided = options.construct_start and large, options.lp_guided_start and large
    wanted = construct or lp_guided or options.mip_start
    families = heuristics.family_columns(built, handoff.columns) if wanted else {}

    planned = [False]  # a plan other than the idle plan exists
    equilibrated: list[LpArrays] = []

    def restricted_lp() -> LpArrays:
        """The model with its rows equilibrated, made once (see `rows_equilibrated`)."""
        if not equilibrated:
            equilibrated.append(handoff.arrays.rows_equilibrated())
        return equilibrated[0]

    split = (data is not None and as_built and len(data.network.scenarios) > 1
             and lp.num_col_ >= options.scenario_relaxation_min_columns)

    def restricted(fixing: heuristics.Fixing, scenario_by_scenario: bool = False) -> bool:
        """Solve one fixing; keep its plan if it is the best so far. Whether it had one.
        `scenario_by_scenario`: where the model is split by scenario (`split`) and the
        fixing holds every integer decision, its flows are solved one scenario at a time
        first (`plan_by_scenario`), which leaves the whole model's solve little to do."""
        budget = _restricted_budget(options, deadline, first=not planned[0])
        ends = None if budget is None else time.perf_counter() + budget

        def solve_fixed(arrays: LpArrays, held_at: heuristics.Fixing,
                        crossover: bool = True) -> heuristics.Start | None:
            return heuristics.solve_restricted(
                arrays, held_at,
                time_limit=None if ends is None else ends - time.perf_counter(),
                options=_restricted_options(options), stop=stopping, log=log,
                lp_solver=options.root_lp_solver, crossover=crossover)

        def solve_scenario(arrays: LpArrays,
                           held_at: heuristics.Fixing) -> heuristics.Start | None:
            """A scenario's LP, without crossover (see `by_scenario.plan_by_scenario`)."""
            return solve_fixed(arrays, held_at, crossover=False)

        if (scenario_by_scenario and split and data is not None
                and heuristics.holds_every_integer(handoff.arrays, fixing)):
            fixing = plan_by_scenario(data.network, built, families, lp.num_col_, fixing,
                                      solve_fixed=solve_scenario, stop=stopping, log=log,
                                      say=lambda text: _say_at(options, deadline, text)
                                      ) or fixing
        start = solve_fixed(restricted_lp(), fixing)
        if start is None or held.violated(start.values).size:
            return False
        planned[0] = planned[0] or start.source != heuristics.IDLE_SOURCE
        if not best or start.objective < best[0].objective:
            best[:] = [start]
            report_phase(options, deadline, f"plan from {start.source}",
                         start.objective * money_unit, lp_bound[0] * money_unit)
        return True

    by_scenario = lp_guided and split

    cores = options.threads or os.cpu_count() or 1

    def relaxation(beside_construction: bool) -> tuple[float, np.ndarray | None]:
        """The LP relaxation: the model's, or one scenario at a time (`by_scenario`) on the
        cores the construction leaves (`beside_construction`) or on all of them; one HiGHS
        thread per LP wherever LPs run side by side."""
        workers = max(1, cores - 1) if beside_construction else cores
        side_by_side = beside_construction or (by_scenario and workers > 1)
        given = {**_restricted_options(options), **({"threads": 1} if side_by_side else {})}

        def solve_lp(arrays: LpArrays, stop: Callable[[], bool] | None = None
                     ) -> tuple[float, np.ndarray | None]:
            return heuristics.solve_relaxation(
                arrays, time_limit=_time_left(options, deadline), options=given,
                stop=stop or stopping, lp_solver=options.root_lp_solver)

        if by_scenario and data is not None:
            return relaxation_by_scenario(data.network, built, families, lp.num_col_,
                                          money_unit, solve_lp=solve_lp, stop=stopping,
                                          deadline=deadline, log=log, say=options.say,
                                          workers=workers, helpers=options.scenario_helpers,
                                          time_left=lambda: _time_left(options, deadline))
        return solve_lp(restricted_lp())

    if not by_scenario and lp_guided:
        restricted_lp()  # made here, not in two threads at once
    beside = (_BackgroundRelaxation(lambda: relaxation(beside_construction=True))
              if lp_guided and not held.upper.size and options.concurrent_relaxation
              and cores > 1 else None)

    def keep(fixings: list[heuristics.Fixing], every: bool = False,
             scenario_by_scenario: bool = False) -> None:
        """Solve the fixings in turn: all of them with `every`, else until one gives a plan."""
        for fixing in fixings:
            if stopping() or (restricted(fixing, scenario_by_scenario) and not every):
                return

    if options.mip_start:
        keep([heuristics.mip_start_fixings(built, families, options.mip_start)])
    if construct and data is not None:
        keep(heuristics.idle_fixings(data, families, handoff.arrays))
        keep(heuristics.greedy_fixings(built, data, families), scenario_by_scenario=True)
    added = np.zeros(held.upper.size, dtype=bool)
    relaxation_s = 0.0
    if (held.upper.size or lp_guided) and not stopping():
        started = time.perf_counter()
        if held.upper.size:
            lp_bound[0], x_lp = lp_rounds(h, held, added, options, started)
            log.append(f"strong linking: {int(added.sum())} of {added.size} rows added by the"
                       f" LP rounds in {time.perf_counter() - started:.1f} s")
        elif beside is not None:
            lp_bound[0], x_lp = beside.result()
            log.append(f"LP relaxation, beside the starts:"
                       f" {'bound' if x_lp is not None else 'no bound'} in {beside.seconds:.1f} s,"
                       f" {time.perf_counter() - started:.1f} s of it after the starts")
        else:
            lp_bound[0], x_lp = relaxation(beside_construction=False)
            log.append(f"LP relaxation: {'bound' if x_lp is not None else 'no bound'} in"
                       f" {time.perf_counter() - started:.1f} s")
        relaxation_s = beside.seconds if beside is not None \
            else time.perf_counter() - started
        if np.isfinite(lp_bound[0]):
            report_phase(options, deadline, "LP relaxation",
                         best[0].objective * money_unit if best else None,
                         lp_bound[0] * money_unit)
        if lp_guided and x_lp is not None and data is not None:
            keep(heuristics.lp_guided_fixings(built, data, families, x_lp), every=True,
                 scenario_by_scenario=True)
    if beside is not None:
        beside.result()  # a cancel or the time limit came first: the thread ends with it
    start = best[0] if best else None
    if stopping():
        return MipResult(lp_bound=lp_bound[0], start=start, mip_ran=False)
    parts = len(data.network.scenarios) if by_scenario and data is not None else 1
    if start is not None and too_little_time_for_the_mip(options, deadline, relaxation_s,
                                                         parts):
        reason = (f"the MIP did not start: {_time_left(options, deadline):.0f} s were left,"
                  f" less than the {relaxation_s * parts ** 2:.0f} s its root LP is expected"
                  f" to take (the relaxation took {relaxation_s:.0f} s"
                  f"{f' over {parts} scenarios' if parts > 1 else ''}); ending with the best"
                  " plan")
        log.append(reason)
        _say_at(options, deadline, reason)
        return MipResult(lp_bound=lp_bound[0], start=start, mip_ran=False, out_of_time=True)
    if start is not None:
        h.setSolution(start.values.size, np.arange(start.values.size, dtype=np.int32),
                      start.values)
    elif give_start is not None:
        give_start()
    while True:
        if options.time_limit_s is not None:
            left = options.time_limit_s - (time.perf_counter() - deadline.started)
            h.setOptionValue("time_limit", max(left, 1e-3))
        h.run()
        if h.getInfo().primal_solution_status != 2:
            break
        count = add_violated_rows(h, held, added)
        if count == 0:
            break
        log.append(f"strong linking: the MIP answer violated {count} held-back rows;"
                   " added them, solving again")
    return MipResult(lp_bound=lp_bound[0], start=start, mip_ran=True)


@dataclass
class _BackgroundRelaxation:
    """The LP relaxation (`work`, on instances of HiGHS of its own with one thread) on a
    thread of its own, started at once: HiGHS gives up Python's lock while it solves, and
    each thread that runs HiGHS has a scheduler of its own, so it runs beside the restricted
    solves of the main thread. It stops at the same deadline and cancel (checked in its
    HiGHS callbacks)."""

    work: Callable[[], tuple[float, np.ndarray | None]]
    seconds: float = 0.0
    _answer: tuple[float, np.ndarray | None] = (-np.inf, None)
    _error: BaseException | None = None
    _thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="reshore-relaxation",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            self._answer = self.work()
        except BaseException as error:  # raised again in the solving thread by `result`
            self._error = error
        finally:
            self.seconds = time.perf_counter() - started

    def result(self) -> tuple[float, np.ndarray | None]:
        """Wait for the relaxation: its optimum and solution, or (-inf, None)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._answer


def too_little_time_for_the_mip(options: SolveOptions, deadline: Deadline,
                                relaxation_s: float, scenarios: int = 1) -> bool:
    """Whether less of the time limit is left than the MIP's root LP is expected to take:
    the time the relaxation took, or, where it was solved one scenario at a time
    (`scenarios` of them), that time times the square of their count. The MIP solves the
    whole model's relaxation as its root LP, and HiGHS looks at neither the time limit nor
    a cancel while it presolves and solves that LP: started so late, it cannot improve the
    plan or the bound and would only run past the limit (synthetic XL, one thread: 100 s
    past an 1,800 s limit) and hold the memory of a MIP solve (XL: peak 5.2 GB against 3.4
    GB without it). The square: the whole relaxation took 7 to 13 times as long as the
    three scenarios' on synthetic L, and on XL more than 4.4 times (unsolved at 1,700 s)."""
    left = _time_left(options, deadline)
    return left is not None and relaxation_s > 0 and left < relaxation_s * scenarios ** 2


def _time_left(options: SolveOptions, deadline: Deadline) -> float | None:
    """Seconds left of the time limit (None without one)."""
    if options.time_limit_s is None:
        return None
    return options.time_limit_s - (time.perf_counter() - deadline.started)


def _restricted_budget(options: SolveOptions, deadline: Deadline, *,
                       first: bool) -> float | None:
    """Seconds a restricted solve may use: the rest of the time limit while no plan exists
    yet (a plan is the first thing a solve owes; the idle plan does not count), else
    `start_share` of the limit at most."""
    left = _time_left(options, deadline)
    if left is None or first:
        return left
    return min(options.start_share * (options.time_limit_s or 0.0), left)


def _restricted_options(options: SolveOptions) -> dict[str, Any]:
    """HiGHS options of a restricted solve: the main solve's, without its time limit, and a
    gap no finer than `restricted_gap` (the main MIP refines the plan)."""
    gap = max(options.mip_gap or 0.0, options.restricted_gap)
    given = {"mip_rel_gap": gap, "threads": options.threads,
             "random_seed": options.random_seed}
    return {**{k: v for k, v in given.items() if v is not None}, **options.highs_options}


def _say_at(options: SolveOptions, deadline: Deadline, text: str) -> None:
    """Say one progress line, after the seconds since the solve started."""
    options.say(f"  {time.perf_counter() - deadline.started:6.1f} s  {text}")


def report_phase(options: SolveOptions, deadline: Deadline, phase: str,
                 best: float | None, bound: float) -> None:
    """Say what a phase before the MIP found: its best plan and the bound so far."""
    elapsed = time.perf_counter() - deadline.started
    has_bound = bool(np.isfinite(bound))
    gap = (max(0.0, best - bound) / max(1.0, abs(best))
           if best is not None and has_bound else None)
    if options.on_progress is not None:
        options.on_progress(SolveProgress(elapsed_s=elapsed, best_objective=best,
                                          bound=bound if has_bound else None, gap=gap))
    bound_text = f"bound {bound:,.0f}" if has_bound else "no bound yet"
    plan_text = "no plan yet" if best is None else f"best plan {best:,.0f}"
    gap_text = "" if gap is None else f"  gap {100 * gap:.2f}%"
    options.say(f"  {elapsed:6.1f} s  {plan_text}  {bound_text}{gap_text}  ({phase})")
