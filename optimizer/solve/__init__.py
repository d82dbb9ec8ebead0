"""Solve a network with HiGHS through Pyomo, and turn the outcome into a domain answer.

`solve` prepares the network, builds the model (`models.network_design.build`, a typed
`models.built.BuiltModel`), hands it to HiGHS and reads the plan. The concerns live apart:

- `options`: `SolveOptions` (solver options and the tuning of the solve path), progress types;
- `handoff`: the built model compiled to one `HighsLp`, with the rows held back apart;
- `rounds`: LP rounds adding violated held-back rows;
- `phases`: a MIP solve's phases: MIP starts (`optimizer.heuristics`), LP rounds, the MIP;
- `progress`: solver log, MIP progress reports, heartbeat, the whole-solve time limit;
- `highs`: one HiGHS run of a built model;
- `status`: from HiGHS's model status to the plan's status;
- `scaling`: the coefficient ranges HiGHS sees, handed and in currency;
- `diagnosis`: when a model that must meet all demand is infeasible, the elastic model says
  which resources bind and which demand falls short.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from reshore.models import network_design
from reshore.models.built import BuiltModel
from reshore.optimizer.decisions import impose_first_stage
from reshore.optimizer.prepare import PreparedNetwork, prepare
from reshore.optimizer.results import Plan, PlanStatus, Timings, make_plan
from reshore.optimizer.schema import Network, canonical_json, hash_of_canonical
from reshore.optimizer.solve.diagnosis import diagnose_infeasibility
from reshore.optimizer.solve.handoff import HandOff, HeldBack, to_highs_lp
from reshore.optimizer.solve.highs import HighsOutcome, MipStart, run_highs
from reshore.optimizer.solve.options import Progress, SolveOptions, SolveProgress
from reshore.optimizer.solve.status import no_solution_reason, plan_status

__all__ = ["Amend", "HandOff", "HeldBack", "HighsOutcome", "MipStart", "Progress",
           "SolveOptions", "SolveProgress", "input_hash", "run_highs", "solve", "to_highs_lp"]


def input_hash(network: Network) -> str:
    """SHA-256 of the instance's canonical JSON form: the same input, the same hash."""
    return hash_of_canonical(canonical_json(network))


Amend = Callable[[BuiltModel, PreparedNetwork], MipStart | None]
"""Changes a built model before it is handed to HiGHS and may return a MIP start: the one
place where a caller adds fixings, deviation variables or objective terms (a replan does,
see `optimizer.replan`). Called once, by `solve`, between build and hand-off."""


def solve(network: Network, options: SolveOptions | None = None, *,
          amend: Amend | None = None, closable: Mapping[str, str] | None = None) -> Plan:
    """Prepare, build and solve the network design model; return the plan or the diagnosis.

    `amend` (see `Amend`) changes the built model and may give a MIP start; `closable`
    names candidate sites that may close, each at the tier it opens at (a replan's
    committed sites; see `optimizer.prepare.possible_closings`)."""
    options = (options or SolveOptions()).resolved(network)
    started = time.perf_counter()
    data = prepare(network, closable)
    prepare_s = time.perf_counter() - started
    options.say(f"prepared the network in {prepare_s:.2f} s")

    started = time.perf_counter()
    built = network_design.build(data)
    if options.first_stage is not None:
        impose_first_stage(built.model, data.periods, options.first_stage)
    build_s = time.perf_counter() - started
    options.say(f"built the model in {build_s:.2f} s")
    mip_start = amend(built, data) if amend is not None else None

    outcome = run_highs(built, options, money_unit=data.money_unit, data=data,
                        mip_start=mip_start,
                        as_built=(amend is None and closable is None
                                  and options.first_stage is None))
    timings = Timings(prepare=prepare_s, build=build_s, handoff=outcome.handoff_s,
                      solve=outcome.solve_s)
    status = plan_status(outcome.model_status, outcome.has_solution)
    digest = input_hash(network)
    if status is PlanStatus.INFEASIBLE:
        options.say("no plan meets every requirement; solving the elastic model to say why")
        diagnosis = diagnose_infeasibility(data, options)
        plan = Plan.without_solution(status, timings, outcome.size, digest, network,
                                     diagnosis=diagnosis, log=outcome.log)
    elif not outcome.has_solution:
        plan = Plan.without_solution(status, timings, outcome.size, digest, network,
                                     diagnosis=[no_solution_reason(outcome.model_status)],
                                     log=outcome.log)
    else:
        plan = make_plan(built, data, status=status, objective=outcome.objective,
                         bound=outcome.bound, gap=outcome.gap, timings=timings,
                         size=outcome.size, input_hash=digest, log=outcome.log)
    plan.scaling = outcome.scaling
    plan.warnings += outcome.scaling.warnings
    return plan
