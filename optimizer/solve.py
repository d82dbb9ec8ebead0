"""Solve a network with HiGHS through Pyomo, and turn the outcome into a domain answer.

Route: Pyomo's `LinearStandardFormCompiler` turns the model into sparse arrays that are
handed to `highspy` in one `passModel` call (measured faster than `SolverFactory('highs')`
and the LP-file route: see `bench/routes.py`). Solution values are written back to the Pyomo
variables, and `optimizer.results` reads them into plan tables.

When a model that must meet all demand is infeasible, the elastic model (every demand and
policy may be violated at a price) is solved to say which demand, capacity or policy cannot
be met.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp
from pyomo.common.gc_manager import PauseGC
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from reshore.models import network_design
from reshore.optimizer.prepare import PreparedNetwork, prepare
from reshore.optimizer.results import ModelSize, Plan, PlanStatus, Timings, diagnose, make_plan
from reshore.optimizer.schema import Network

Progress = Callable[[str], None]
"""Receives one line of human-readable progress at a time."""

MipStart = list[tuple[Any, float]]
"""(Pyomo variable, starting value) for some variables of the model (integer ones at least),
handed to HiGHS with `setSolution`; HiGHS completes the rest by solving an LP with those
fixed."""

Amend = Callable[[Any, PreparedNetwork], MipStart | None]
"""Changes a built model before it is handed to HiGHS and may return a MIP start: the one
place where a caller adds fixings, deviation variables or objective terms (a replan does,
see `optimizer.replan`). Called once, by `solve`, between build and hand-off."""

HEARTBEAT_S = 5.0
"""Seconds of solver silence after which a 'still working' line is shown."""


@dataclass(frozen=True)
class SolveProgress:
    """Where a MIP solve stands: None where HiGHS has no value yet."""

    elapsed_s: float
    best_objective: float | None
    bound: float | None
    gap: float | None


@dataclass(frozen=True)
class SolveOptions:
    """Solver options; None takes the instance's `settings.solver` value, then HiGHS's own."""

    time_limit_s: float | None = None
    mip_gap: float | None = None
    threads: int | None = None
    random_seed: int | None = None
    log_to_console: bool = False
    progress_every_s: float = 2.0
    """Seconds between two MIP progress reports."""
    highs_options: dict[str, Any] = field(default_factory=dict)
    """Further HiGHS options by name, for experts (e.g. {"mip_heuristic_effort": 0.2})."""
    progress: Progress | None = field(default=None, compare=False)
    on_progress: Callable[[SolveProgress], None] | None = field(default=None, compare=False)
    """Receives the MIP's best objective, bound and gap as numbers, as often as `progress`."""
    should_stop: Callable[[], bool] | None = field(default=None, compare=False)
    """Polled during the solve; when it returns True the solve is interrupted (during the
    MIP's root relaxation HiGHS looks only once that relaxation is solved)."""

    def resolved(self, network: Network) -> SolveOptions:
        """These options with the instance's settings filled in where none was given."""
        given = network.settings.solver
        return replace(
            self,
            time_limit_s=self.time_limit_s if self.time_limit_s is not None else given.time_limit_s,
            mip_gap=self.mip_gap if self.mip_gap is not None else given.mip_gap,
            threads=self.threads if self.threads is not None else given.threads,
            random_seed=self.random_seed if self.random_seed is not None else given.random_seed,
        )


@dataclass
class HighsOutcome:
    """What HiGHS answered, in solver terms."""

    model_status: str
    has_solution: bool
    objective: float | None
    bound: float | None
    gap: float | None
    values: np.ndarray | None
    handoff_s: float
    solve_s: float
    size: ModelSize
    log: list[str]


def input_hash(network: Network) -> str:
    """SHA-256 of the instance's canonical JSON form: the same input, the same hash."""
    canonical = json.dumps(network.to_tables(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _say(options: SolveOptions, message: str) -> None:
    if options.progress is not None:
        options.progress(message)


def solve(network: Network, options: SolveOptions | None = None, *,
          amend: Amend | None = None) -> Plan:
    """Prepare, build and solve the network design model; return the plan or the diagnosis.

    `amend` (see `Amend`) changes the built model and may give a MIP start."""
    options = (options or SolveOptions()).resolved(network)
    started = time.perf_counter()
    data = prepare(network)
    prepare_s = time.perf_counter() - started
    _say(options, f"prepared the network in {prepare_s:.2f} s")

    started = time.perf_counter()
    model = network_design.build(data)
    build_s = time.perf_counter() - started
    _say(options, f"built the model in {build_s:.2f} s")
    mip_start = amend(model, data) if amend is not None else None

    outcome = run_highs(model, options, money_unit=data.money_unit, mip_start=mip_start)
    timings = Timings(prepare=prepare_s, build=build_s, handoff=outcome.handoff_s,
                      solve=outcome.solve_s)
    status = _plan_status(outcome, options)
    digest = input_hash(network)
    if status is PlanStatus.INFEASIBLE:
        _say(options, "no plan meets every requirement; solving the elastic model to say why")
        diagnosis = diagnose_infeasibility(data, options)
        return Plan.without_solution(status, timings, outcome.size, digest, network,
                                     diagnosis=diagnosis, log=outcome.log)
    if not outcome.has_solution or outcome.values is None:
        return Plan.without_solution(status, timings, outcome.size, digest, network,
                                     diagnosis=[_no_solution_reason(outcome)], log=outcome.log)
    return make_plan(model, data, status=status, objective=outcome.objective,
                     bound=outcome.bound, gap=outcome.gap, timings=timings, size=outcome.size,
                     input_hash=digest, log=outcome.log)


def _no_solution_reason(outcome: HighsOutcome) -> str:
    if outcome.model_status == "Time limit reached":
        return "the time limit was reached before any feasible plan was found"
    if outcome.model_status == "Interrupted by user":
        return "the solve was stopped before any feasible plan was found"
    return f"HiGHS stopped without a plan: {outcome.model_status}"


def _plan_status(outcome: HighsOutcome, options: SolveOptions) -> PlanStatus:
    if outcome.model_status in ("Infeasible", "Primal infeasible or unbounded"):
        return PlanStatus.INFEASIBLE
    if not outcome.has_solution:
        if outcome.model_status == "Interrupted by user":
            return PlanStatus.CANCELLED
        return PlanStatus.NO_SOLUTION
    if outcome.model_status == "Optimal":
        return PlanStatus.OPTIMAL
    if outcome.model_status == "Interrupted by user":
        return PlanStatus.CANCELLED
    return PlanStatus.FEASIBLE


def diagnose_infeasibility(data: PreparedNetwork, options: SolveOptions) -> list[str]:
    """Solve the elastic model and say, in business terms, what cannot be met."""
    model = network_design.build(data, elastic=True)
    outcome = run_highs(model, replace(options, progress=None))
    if not outcome.has_solution:
        return ["the model is infeasible and the elastic diagnosis found no answer"
                f" ({outcome.model_status})"]
    return diagnose(model, data)


def _highs_options(h: highspy.Highs, options: SolveOptions) -> None:
    h.setOptionValue("output_flag", True)  # the log reaches the callback either way
    h.setOptionValue("mip_lp_solver", ROOT_LP_SOLVER)
    h.setOptionValue("log_to_console", bool(options.log_to_console))
    if options.time_limit_s is not None:
        h.setOptionValue("time_limit", float(options.time_limit_s))
    if options.mip_gap is not None:
        h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    if options.random_seed is not None:
        h.setOptionValue("random_seed", int(options.random_seed))
    for name, value in options.highs_options.items():
        if h.setOptionValue(name, value) != highspy.HighsStatus.kOk:
            raise ValueError(f"HiGHS rejects option {name}={value!r}")


LAZY_FAMILIES = frozenset({"shipments_need_operating_site"})
"""Row blocks whose rows are mostly slack at the optimum (the strong linking ship <= demand x
operating): apart from the block's `kept` rows they are held back from the first LP, added
where the relaxation violates them, and checked on every integer answer (see `run_highs`)."""


@dataclass
class HeldBack:
    """Rows of the model kept out of the LP handed to HiGHS: A x <= upper (CSR)."""

    matrix: Any
    upper: np.ndarray

    def violated(self, x: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
        """Indices of the held-back rows that `x` violates by more than `tolerance` times the
        row's largest coefficient (HiGHS's own integrality and feasibility tolerances let a
        binary sit 1e-6 off its value, which moves such a row by that much)."""
        if self.upper.size == 0:
            return np.zeros(0, dtype=np.int64)
        excess = self.matrix @ x - self.upper
        scale = np.maximum(1.0, abs(self.matrix).max(axis=1).toarray().ravel())
        return np.flatnonzero(excess > tolerance * np.maximum(scale, np.abs(self.upper)))


def to_highs_lp(model: Any, hold_back: frozenset[str] = frozenset()
                ) -> tuple[highspy.HighsLp, list[Any], float, int, HeldBack]:
    """Compile a Pyomo model to a `HighsLp`: (lp, Pyomo variables by column, objective
    offset, number of integer columns, rows held back).

    The Pyomo constraints and objective go through Pyomo's `LinearStandardFormCompiler`; the
    model's row blocks (`models.linear_rows`) are appended as they are. Blocks named in
    `hold_back` (only `<=` rows) are left out of the lp and returned apart."""
    with PauseGC():
        return _compile(model, hold_back)


def _compile(model: Any, hold_back: frozenset[str]
             ) -> tuple[highspy.HighsLp, list[Any], float, int, HeldBack]:
    form = LinearStandardFormCompiler().write(model, mixed_form=True)
    columns = list(form.columns)
    column_of = {id(v): i for i, v in enumerate(columns)}
    blocks: dict[str, Any] = getattr(model, "row_blocks", {})
    family_columns: dict[str, np.ndarray] = {}
    for block in blocks.values():
        for family in block.families:
            if family in family_columns:
                continue
            members = list(getattr(model, family).values())
            found = np.fromiter((column_of.get(id(v), -1) for v in members), np.int64,
                                len(members))
            new = np.flatnonzero(found < 0)
            found[new] = np.arange(len(columns), len(columns) + new.size)
            columns.extend(members[i] for i in new)
            family_columns[family] = found
    n = len(columns)

    def widened(matrix: Any) -> Any:
        matrix = matrix.tocsr()
        matrix.resize((matrix.shape[0], n))
        return matrix

    def block_matrix(block: Any) -> Any:
        spread = np.concatenate([family_columns[f] for f in block.families])
        matrix = block.matrix
        return sp.csr_matrix((matrix.data, spread[matrix.indices], matrix.indptr),
                             shape=(matrix.shape[0], n))

    inf = highspy.kHighsInf
    sense = np.fromiter((row.bound_type for row in form.rows), int, len(form.rows))
    rhs = np.asarray(form.rhs, dtype=float)
    parts = [widened(form.A)] if len(form.rows) else []
    row_lower = [np.where(sense == 1, -inf, rhs)]
    row_upper = [np.where(sense == -1, inf, rhs)]
    held_parts, held_upper = [], []
    for name, block in blocks.items():
        whole = block_matrix(block)
        lower, upper = block.lower, block.upper
        if name in hold_back:
            if not np.isneginf(block.lower).all():
                raise ValueError(f"only <= rows can be held back; {name} has lower bounds")
            kept = np.zeros(block.rows, bool) if block.kept is None else block.kept
            held_parts.append(whole[~kept])
            held_upper.append(block.upper[~kept])
            whole, lower, upper = whole[kept], lower[kept], upper[kept]
        parts.append(whole)
        row_lower.append(np.where(np.isneginf(lower), -inf, lower))
        row_upper.append(np.where(np.isposinf(upper), inf, upper))
    matrix = sp.vstack(parts, format="csc") if parts else sp.csc_matrix((0, n))
    held_back = HeldBack(
        matrix=sp.vstack(held_parts, format="csr") if held_parts else sp.csr_matrix((0, n)),
        upper=np.concatenate(held_upper) if held_upper else np.zeros(0))

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, int(matrix.shape[0])
    objective = np.zeros(n)
    if form.c.shape[0]:
        objective[:form.c.shape[1]] = form.c.toarray().ravel()
    lp.col_cost_ = objective
    offset = float(form.c_offset[0]) if len(form.c_offset) else 0.0
    lp.offset_ = offset
    lp.col_lower_ = np.fromiter((-inf if v.lb is None else v.lb for v in columns), float, n)
    lp.col_upper_ = np.fromiter((inf if v.ub is None else v.ub for v in columns), float, n)
    lp.row_lower_ = np.concatenate(row_lower)
    lp.row_upper_ = np.concatenate(row_upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    integer = np.fromiter((v.is_integer() for v in columns), bool, n)
    if integer.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in integer]
    return lp, columns, offset, int(integer.sum()), held_back


_banner_shown = False


def _quiet_highs() -> highspy.Highs:
    """A Highs instance; the banner HiGHS prints once per process on standard output is
    swallowed so that `--json` output stays clean."""
    global _banner_shown
    if _banner_shown:
        return highspy.Highs()  # type: ignore[no-untyped-call]
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with Path(os.devnull).open("w") as sink:
            os.dup2(sink.fileno(), 1)
            h = highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        _banner_shown = True
    return h


def run_highs(model: Any, options: SolveOptions, money_unit: float = 1.0,
              lazy_linking: bool = True, mip_start: MipStart | None = None) -> HighsOutcome:
    """Hand the model to HiGHS, solve it and write the solution back into the variables.

    With `lazy_linking` (a MIP only) the strong linking rows start outside the model: the LP
    relaxation is solved, the rows it violates are added, until none is; then the MIP is
    solved and its answer checked against every held-back row (any violated row is added and
    the MIP solved again), so the answer is that of the full model. A `mip_start` is handed
    to HiGHS just before the MIP runs."""
    started = time.perf_counter()
    lp, columns, _, integers, held = to_highs_lp(
        model, hold_back=LAZY_FAMILIES if lazy_linking else frozenset())
    h = _quiet_highs()
    _highs_options(h, options)
    log: list[str] = []
    deadline = Deadline(options.time_limit_s)
    last_report = _attach_callbacks(h, options, log, money_unit, deadline)
    h.passModel(lp)
    handoff_s = time.perf_counter() - started
    size = ModelSize(variables=lp.num_col_, integer_variables=integers,
                     constraints=lp.num_row_ + held.upper.size,
                     nonzeros=len(lp.a_matrix_.value_) + held.matrix.nnz)
    _say(options, f"handed {size.variables:,} variables ({size.integer_variables:,} integer),"
         f" {size.constraints:,} constraints and {size.nonzeros:,} nonzeros to HiGHS"
         f" in {handoff_s:.2f} s; solving")

    started = time.perf_counter()
    deadline.start()
    relaxation_bound = -np.inf

    def give_start() -> None:
        if mip_start:
            _set_mip_start(h, columns, mip_start)

    with _heartbeat(options, last_report):
        if held.upper.size and integers:
            relaxation_bound = _solve_with_held_back_rows(h, held, options, log, give_start)
        else:
            give_start()
            h.run()
    solve_s = time.perf_counter() - started
    status = h.modelStatusToString(h.getModelStatus())
    if deadline.passed and status == "Interrupted by user":
        status = "Time limit reached"
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2
    values = objective = bound = gap = None
    if has_solution:
        values = np.asarray(h.getSolution().col_value, dtype=float)
        for variable, value in zip(columns, values, strict=True):
            if variable.is_integer() or variable.is_binary():
                value = round(value)
            variable.set_value(float(value), skip_validation=True)
        objective = float(info.objective_function_value) * money_unit
        if integers:
            bound, gap = float(info.mip_dual_bound), float(info.mip_gap)
            if relaxation_bound > bound:  # stopped before the MIP had a better bound
                bound = relaxation_bound
                gap = max(0.0, float(info.objective_function_value) - bound) / max(
                    1.0, abs(float(info.objective_function_value)))
            bound *= money_unit
        else:
            bound, gap = objective, 0.0
    _say(options, f"HiGHS: {status.lower()} in {solve_s:.2f} s")
    return HighsOutcome(model_status=status, has_solution=has_solution, objective=objective,
                        bound=bound, gap=gap, values=values, handoff_s=handoff_s,
                        solve_s=solve_s, size=size, log=log)


MAX_LP_ROUNDS = 50
LP_ROUNDS_SHARE = 0.5
"""Share of the time limit after which no further LP round starts: the MIP gets the rest."""
MIN_ROUND_GAIN = 1e-4
"""An LP round that raised the bound by less than this share ends the rounds: the rows it
found barely tighten the relaxation, and each round costs a re-solve."""
ROOT_LP_SOLVER = "ipm"
"""HiGHS solver for the first LP (the first round, and the MIP's root relaxation): interior
point with crossover; the later rounds and the MIP's node LPs warm-start dual simplex."""


def _add_violated_rows(h: highspy.Highs, held: HeldBack, added: np.ndarray) -> int:
    """Add to HiGHS the held-back rows that its current solution violates and that are not in
    yet; return how many were added."""
    x = np.asarray(h.getSolution().col_value, dtype=float)
    rows = held.violated(x)
    rows = rows[~added[rows]]
    if rows.size:
        block = held.matrix[rows]
        h.addRows(len(rows), np.full(len(rows), -highspy.kHighsInf), held.upper[rows],
                  block.nnz, block.indptr[:-1].astype(np.int32), block.indices.astype(np.int32),
                  block.data.astype(float))
        added[rows] = True
    return int(rows.size)


def _set_mip_start(h: highspy.Highs, columns: list[Any], mip_start: MipStart) -> None:
    """Hand HiGHS the starting values of the columns that `mip_start` gives."""
    column_of = {id(v): i for i, v in enumerate(columns)}
    given = [(column_of[id(v)], float(value)) for v, value in mip_start
             if id(v) in column_of]
    if given:
        index = np.array([i for i, _ in given], dtype=np.int32)
        values = np.array([value for _, value in given], dtype=float)
        h.setSolution(len(given), index, values)


def _solve_with_held_back_rows(h: highspy.Highs, held: HeldBack, options: SolveOptions,
                               log: list[str], give_start: Callable[[], None]) -> float:
    """LP rounds adding the violated held-back rows, then the MIP, re-solved while its answer
    violates a held-back row (see `run_highs`). Returns the last LP round's bound, a valid
    lower bound of the whole model (-inf when no round finished)."""
    started = time.perf_counter()
    added = np.zeros(held.upper.size, dtype=bool)
    h.setOptionValue("solve_relaxation", True)
    h.setOptionValue("solver", ROOT_LP_SOLVER)
    bound, first_round = -np.inf, True
    for _ in range(MAX_LP_ROUNDS):
        if options.time_limit_s is not None and (
                time.perf_counter() - started > LP_ROUNDS_SHARE * options.time_limit_s):
            break
        h.run()
        if first_round:
            first_round = False
            h.setOptionValue("solver", "simplex")
            if h.getModelStatus() == highspy.HighsModelStatus.kUnknown:
                h.run()  # interior point without a clean crossover: simplex once more
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        previous, bound = bound, h.getInfo().objective_function_value
        if (_add_violated_rows(h, held, added) == 0
                or bound - previous < MIN_ROUND_GAIN * max(1.0, abs(bound))):
            break
    h.setOptionValue("solve_relaxation", False)
    h.setOptionValue("solver", "choose")
    log.append(f"strong linking: {int(added.sum())} of {added.size} rows added by the LP"
               f" rounds in {time.perf_counter() - started:.1f} s")
    give_start()
    while True:
        if options.time_limit_s is not None:
            left = options.time_limit_s - (time.perf_counter() - started)
            h.setOptionValue("time_limit", max(left, 1e-3))
        h.run()
        if h.getInfo().primal_solution_status != 2:
            return float(bound)
        count = _add_violated_rows(h, held, added)
        if count == 0:
            return float(bound)
        log.append(f"strong linking: the MIP answer violated {count} held-back rows;"
                   " added them, solving again")


@contextlib.contextmanager
def _heartbeat(options: SolveOptions, last_report: list[float]) -> Iterator[None]:
    """While HiGHS works without reporting (presolve, the root relaxation), say every few
    seconds that it is still working."""
    if options.progress is None:
        yield
        return
    progress = options.progress
    started, done = time.perf_counter(), threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT_S):
            now = time.perf_counter()
            if now - last_report[0] >= HEARTBEAT_S:
                last_report[0] = now
                progress(f"  {now - started:6.1f} s  solving the relaxation")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


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


def _attach_callbacks(h: highspy.Highs, options: SolveOptions, log: list[str],
                      money_unit: float, deadline: Deadline) -> list[float]:
    """Keep the solver log, report MIP progress every few seconds, and stop when asked to."""
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
