"""One HiGHS run of a built model: hand-off, options, callbacks, the phases of a MIP solve
(MIP starts, LP rounds, the MIP), and the solution written back into the model's
variables."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np

from reshore.models.built import BuiltModel
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.results import ModelSize, Scaling
from reshore.optimizer.solve.handoff import HandOff, quiet_highs, to_highs_lp
from reshore.optimizer.solve.options import SolveOptions
from reshore.optimizer.solve.phases import MipResult, solve_mip
from reshore.optimizer.solve.progress import Deadline, attach_callbacks, heartbeat
from reshore.optimizer.solve.scaling import describe, scaling_report

MipStart = list[tuple[Any, float]]
"""(Pyomo variable, starting value) for some variables of the model (integer ones at least),
handed to HiGHS with `setSolution` just before the MIP runs; HiGHS completes the rest by
solving an LP with those values fixed, and says in its log whether that gave a plan."""


def set_mip_start(h: highspy.Highs, columns: list[Any], mip_start: MipStart) -> None:
    """Hand HiGHS the starting values of the columns that `mip_start` gives."""
    column_of = {id(v): i for i, v in enumerate(columns)}
    given = [(column_of[id(v)], float(value)) for v, value in mip_start if id(v) in column_of]
    if given:
        index = np.array([i for i, _ in given], dtype=np.int32)
        values = np.array([value for _, value in given], dtype=float)
        h.setSolution(len(given), index, values)


START_ATTEMPT = "Attempting to find feasible solution by solving LP for user-supplied"
"""The line HiGHS logs when it completes a MIP start given by `setSolution` with values for
some columns only (the discrete ones): it solves an LP with those values fixed."""


def start_verdict(log: list[str]) -> str:
    """What HiGHS's log says of a MIP start: 'accepted (...)' or 'rejected (...)' with
    HiGHS's words, or 'not used by HiGHS' when the log says nothing of one.

    HiGHS checks a start after the MIP's presolve ("MIP start solution is feasible, ...").
    A start with values for the discrete columns only is first completed by an LP with those
    values fixed; when that LP is optimal the start is a plan, and HiGHS keeps it as its
    first incumbent, even when the MIP's presolve then solves the model outright and the
    check line never comes."""
    for line in log:
        if line.strip().startswith("MIP start solution is"):
            verdict = "accepted" if "is feasible" in line else "rejected"
            return f"{verdict} (HiGHS: {line.strip()})"
    for i, line in enumerate(log):
        if START_ATTEMPT in line:
            after = [x.strip() for x in log[i + 1:]]
            status = next((x.split(":", 1)[1].strip() for x in after
                           if x.startswith("Model status")), "no status")
            if status == "Optimal":
                value = next((x.split(":", 1)[1].strip() for x in after
                              if x.startswith("Objective value")), "?")
                return ("accepted (HiGHS completed the start's values with an LP, objective"
                        f" value {float(value):.10g} in model units)" if value != "?" else
                        "accepted (HiGHS completed the start's values with an LP)")
            return f"rejected (HiGHS: the LP for the start's values ended {status})"
    return "not used by HiGHS"


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
    scaling: Scaling
    """The money unit and the coefficient ranges HiGHS was handed."""
    handoff: HandOff = field(repr=False)
    highs: highspy.Highs = field(repr=False)
    """The solver, holding the model as last solved (the diagnosis re-solves it)."""


_scheduler_threads: list[int | None] = []
"""The thread count HiGHS's process-wide scheduler was started with (empty before the first
solve in this process): HiGHS keeps that scheduler, and a later solve asking for another
count fails with status "Not Set" unless the scheduler is started afresh."""


def scheduler_for(threads: int | None) -> None:
    """Start HiGHS's scheduler afresh when this solve asks for another thread count than the
    one it runs with."""
    if _scheduler_threads and _scheduler_threads[0] != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _scheduler_threads[:] = [threads]


def configure(h: highspy.Highs, options: SolveOptions) -> None:
    """Set the HiGHS options a solve asks for."""
    scheduler_for(options.threads)
    h.setOptionValue("output_flag", True)  # the log reaches the callback either way
    h.setOptionValue("mip_lp_solver", options.root_lp_solver)
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


def run_highs(built: BuiltModel, options: SolveOptions, money_unit: float = 1.0,
              data: PreparedNetwork | None = None,
              mip_start: MipStart | None = None, as_built: bool = True) -> HighsOutcome:
    """Hand the model to HiGHS, solve it and write the solution back into the variables.

    A MIP goes through the phases of `optimizer.solve.phases` (`data`, the prepared network,
    enables the greedy construction). When the solve holds rows back
    (`SolveOptions.hold_back_rows`) they start outside the model: see
    `optimizer.solve.rounds`. When the MIP is stopped before it beats the best start, the
    start is the answer. A `mip_start` (a replan's previous plan) is handed to HiGHS just
    before the MIP runs when the phases found no plan of their own. `as_built`: the model is
    `data`'s as built, no decision fixed and no term added (see `phases.solve_mip`)."""
    started = time.perf_counter()
    handoff = to_highs_lp(built, rank_kept=options.rank_kept)
    lp, columns, integers, held = handoff.lp, handoff.columns, handoff.integers, handoff.held
    h = quiet_highs()
    configure(h, options)
    log: list[str] = []
    deadline = Deadline(options.time_limit_s)
    lp_bound = [-np.inf]
    last_report = attach_callbacks(h, options, log, money_unit, deadline, lp_bound)
    h.passModel(lp)
    scaling = scaling_report(built, handoff, money_unit)
    handoff_s = time.perf_counter() - started
    size = ModelSize(variables=lp.num_col_, integer_variables=integers,
                     constraints=lp.num_row_ + held.upper.size,
                     nonzeros=len(lp.a_matrix_.value_) + held.matrix.nnz)
    options.say(f"handed {size.variables:,} variables ({size.integer_variables:,} integer),"
                f" {size.constraints:,} constraints and {size.nonzeros:,} nonzeros to HiGHS"
                f" in {handoff_s:.2f} s; solving")
    options.say(f"coefficients HiGHS sees (money in units of {money_unit:g}):"
                f" {describe(scaling.handed)}; in currency: {describe(scaling.in_currency)}")
    for warning in scaling.warnings:
        options.say(f"warning: {warning}")

    started = time.perf_counter()
    deadline.start()
    mip = MipResult(lp_bound=-np.inf, start=None, mip_ran=True)

    def give_start() -> None:
        if mip_start:
            set_mip_start(h, columns, mip_start)

    with heartbeat(options, last_report):
        if integers:
            mip = solve_mip(h, handoff, built, data, options, log, deadline, money_unit,
                            lp_bound, give_start, as_built=as_built)
        else:
            give_start()
            h.run()
    solve_s = time.perf_counter() - started
    status = h.modelStatusToString(h.getModelStatus()) if mip.mip_ran \
        else "Interrupted by user"
    if (deadline.passed or mip.out_of_time) and status == "Interrupted by user":
        status = "Time limit reached"
    if deadline.passed:
        log.append(f"the time limit of {options.time_limit_s:g} s for the whole solve was"
                   " reached")
    info = h.getInfo()
    has_solution = mip.mip_ran and info.primal_solution_status == 2
    found = float(info.objective_function_value) if has_solution else None
    start = mip.start
    if start is not None and (found is None or start.objective < found - 1e-9):
        found = start.objective  # the MIP was stopped before it beat the start
    else:
        start = None
    values = objective = bound = gap = None
    if found is not None:
        has_solution = True
        values = np.asarray(h.getSolution().col_value, dtype=float) if start is None \
            else start.values
        for variable, value in zip(columns, values, strict=True):
            if variable.is_integer() or variable.is_binary():
                value = round(value)
            variable.set_value(float(value), skip_validation=True)
        objective = found * money_unit
        if integers:
            mip_bound = float(info.mip_dual_bound) if mip.mip_ran else -np.inf
            lower = max(mip_bound, mip.lp_bound)
            if start is None and mip_bound >= mip.lp_bound:
                gap = float(info.mip_gap)  # HiGHS's own figure when the bound is its own
            elif np.isfinite(lower):
                gap = max(0.0, found - lower) / max(1.0, abs(found))
            bound = lower * money_unit if np.isfinite(lower) else None
        else:
            bound, gap = objective, 0.0
    options.say(f"HiGHS: {status.lower()} in {solve_s:.2f} s")
    return HighsOutcome(model_status=status, has_solution=has_solution, objective=objective,
                        bound=bound, gap=gap, values=values, handoff_s=handoff_s,
                        solve_s=solve_s, size=size, log=log, scaling=scaling,
                        handoff=handoff, highs=h)
