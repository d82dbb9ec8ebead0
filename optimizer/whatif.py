"""What-if runs: the base instance and every variant solved in a process pool, each plan
written as `solve` writes it, and one comparison table (`comparison.csv`, `comparison.xlsx`).

    out/
      base/                 the base plan (summary.json, one CSV per table, plan.xlsx)
      variants/<name>/      each variant's plan, and notes.txt when the variant has notes
      comparison.csv        one row per run, base first
      comparison.xlsx
      whatif.json           variants, statuses, reasons, notes and timings

A variant that is infeasible or fails gets its status and reason in the comparison; the others
go on.

With `warm_start`, the base is solved first and its plan's integer decisions (openings,
closings, qualifications, single-sourcing assignments) are handed to every variant's solve as
a MIP start, matched by variable key on the variant's own model: a key the variant does not
have is dropped, a key the base does not have starts at 0 (see `warm_start_amend`). HiGHS
completes the start with an LP over the other variables and says whether that gave a plan;
each run records its verdict (`RunOutcome.warm_start`).
"""

from __future__ import annotations

import json
import multiprocessing
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from reshore.models.built import BuiltModel
from reshore.optimizer.check import check
from reshore.optimizer.decisions import FirstStage, differences_in_words, first_stage_of
from reshore.optimizer.diff import PlanTables
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.replan import warm_start_values
from reshore.optimizer.results import Plan
from reshore.optimizer.schema import Network
from reshore.optimizer.solve import Amend, MipStart, SolveOptions, solve
from reshore.optimizer.solve.highs import start_verdict
from reshore.optimizer.variants import AppliedVariant

BASE = "base"
"""Name of the unchanged instance in the comparison."""

LEADING_COLUMNS = ["variant", "status", "objective", "expected_cost", "cvar", "worst_case_cost",
                   "delta_objective", "delta_objective_pct", "service_level", "tariff_spend"]
"""The comparison's first columns, in this order; then `sourcing_<country>` (expected share of
component purchase value by origin country), `sites_opened`, `changes`, `reason`, `notes`,
`gap` (relative MIP gap of the plan), `solve_s`."""


@dataclass(frozen=True)
class SolveLimits:
    """The solver options a what-if run hands to every solve (picklable, unlike callbacks)."""

    time_limit_s: float | None = None
    mip_gap: float | None = None
    threads: int | None = None
    random_seed: int | None = None
    should_stop: Callable[[], bool] | None = field(default=None, compare=False)
    """Polled by every solve and before each one starts (see `SolveOptions.should_stop`);
    only for solves in this process (`jobs` 1): a callable seldom pickles."""

    def options(self) -> SolveOptions:
        return SolveOptions(time_limit_s=self.time_limit_s, mip_gap=self.mip_gap,
                            threads=self.threads, random_seed=self.random_seed,
                            should_stop=self.should_stop)

    def stopped(self) -> bool:
        return self.should_stop is not None and self.should_stop()


NO_LIMITS = SolveLimits()
"""The instance's own solver settings."""

WARM_START = False
"""Whether what-if runs hand the base plan to the variants as a MIP start by default; see
docs/whatif.md, "Warm starts", for the measurement behind it."""


@dataclass
class RunOutcome:
    """One solve of a what-if run: its plan, or why there is none."""

    name: str
    plan: Plan | None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    check_ok: bool | None = None

    job_status: str = ""
    """Status of the job that ran it, when a job service did (cancelled, failed)."""
    warm_start: str = ""
    """What HiGHS said of the base plan handed as a MIP start ('' when none was given)."""

    @property
    def status(self) -> str:
        if self.plan is not None:
            return str(self.plan.status)
        return self.job_status or "failed"


@dataclass
class WhatIfResult:
    """Base and variants, solved; the comparison table; the whole run's wall time."""

    base: RunOutcome
    variants: list[RunOutcome]
    comparison: pd.DataFrame
    wall_s: float
    jobs: int

    @property
    def runs(self) -> list[RunOutcome]:
        return [self.base, *self.variants]


def warm_start_amend(start: PlanTables) -> Amend:
    """The `solve` amendment that hands a plan's integer decisions to HiGHS as a MIP start,
    matched by variable key on the model being solved (`replan.warm_start_values`)."""

    def amend(built: BuiltModel, data: PreparedNetwork) -> MipStart:
        return warm_start_values(built.model, data, start)

    return amend


def _solve_one(name: str, network: Network, limits: SolveLimits,
               first_stage: FirstStage | None = None,
               start: PlanTables | None = None) -> RunOutcome:
    """Solve one instance and check its plan (runs in a worker process); `start`, a plan
    handed to HiGHS as a MIP start."""
    started = time.perf_counter()
    try:
        plan = solve(network, replace(limits.options(), first_stage=first_stage),
                     amend=warm_start_amend(start) if start is not None else None)
    except Exception as error:  # a failed variant is reported; the others go on
        return RunOutcome(name, None, reason=f"{type(error).__name__}: {error}",
                          wall_s=time.perf_counter() - started)
    verdict = start_verdict(plan.log) if start is not None else ""
    check_ok = check(network, plan).ok if plan.has_solution else None
    reason = "; ".join(plan.diagnosis)
    if check_ok is False:
        reason = "the independent plan check found violations" + (f"; {reason}" if reason
                                                                   else "")
    return RunOutcome(name, plan, reason=reason, wall_s=time.perf_counter() - started,
                      check_ok=check_ok, warm_start=verdict)


@dataclass(frozen=True)
class Job:
    """One solve to run: a name, an instance and optionally first-stage decisions to hold
    and a plan to start from."""

    name: str
    network: Network
    first_stage: FirstStage | None = None
    start: PlanTables | None = None


def solve_all(work: Sequence[Job], *, jobs: int = 2, limits: SolveLimits = NO_LIMITS,
              on_done: Callable[[RunOutcome], None] | None = None,
              on_start: Callable[[Job], None] | None = None) -> dict[str, RunOutcome]:
    """Solve every job, `jobs` at a time in worker processes (in this process when jobs is 1);
    a job that fails is reported as such and the others go on. In this process, `on_start`
    hears of each job as it starts, and once `limits.should_stop` says so the jobs left are
    not started (their outcome says cancelled)."""
    if jobs > 1 and limits.threads is None:
        limits = replace(limits, threads=1)
    if jobs > 1 and len(work) > 1 and limits.should_stop is not None:
        raise ValueError("should_stop reaches solves in this process only: use jobs=1")
    outcomes: dict[str, RunOutcome] = {}

    def done(outcome: RunOutcome) -> None:
        outcomes[outcome.name] = outcome
        if on_done is not None:
            on_done(outcome)

    if jobs <= 1 or len(work) <= 1:
        for job in work:
            if limits.stopped():
                done(RunOutcome(job.name, None, reason="cancelled before it started",
                                job_status="cancelled"))
                continue
            if on_start is not None:
                on_start(job)
            done(_solve_one(job.name, job.network, limits, job.first_stage, job.start))
        return outcomes
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(work)), mp_context=context) as pool:
        futures: dict[Future[RunOutcome], str] = {
            pool.submit(_solve_one, job.name, job.network, limits, job.first_stage,
                        job.start): job.name
            for job in work}
        for future in as_completed(futures):
            try:
                done(future.result())
            except Exception as error:  # the worker itself died
                done(RunOutcome(futures[future], None, reason=f"{type(error).__name__}: {error}"))
    return outcomes


def folder_name(name: str) -> str:
    """A file-system-safe folder name for a variant (`tw_sweep[rate=0.1]` ->
    `tw_sweep_rate=0.1`)."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", name).strip("_") or "variant"


def run_whatif(base: Network, variants: Sequence[AppliedVariant], *, jobs: int = 2,
               limits: SolveLimits = NO_LIMITS, warm_start: bool = WARM_START,
               progress: Callable[[str], None] | None = None) -> WhatIfResult:
    """Solve the base and every variant, `jobs` at a time in worker processes. With
    `warm_start` the base is solved first and its plan is every variant's MIP start."""
    started = time.perf_counter()
    notes = {v.name: v.notes for v in variants}
    total = 1 + len(variants)
    finished = [0]

    def done(outcome: RunOutcome) -> None:
        outcome.notes = notes.get(outcome.name, [])
        finished[0] += 1
        if progress is not None:
            progress(_progress_line(finished[0], total, outcome))

    if warm_start:
        outcomes = solve_all([Job(BASE, base)], jobs=1, limits=limits, on_done=done)
        start = base_start(outcomes[BASE])
        outcomes |= solve_all([Job(v.name, v.network, start=start) for v in variants],
                              jobs=jobs, limits=limits, on_done=done)
    else:
        work = [Job(BASE, base), *(Job(v.name, v.network) for v in variants)]
        outcomes = solve_all(work, jobs=jobs, limits=limits, on_done=done)
    ordered = [outcomes[v.name] for v in variants]
    table = comparison_table(outcomes[BASE], ordered)
    return WhatIfResult(outcomes[BASE], ordered, table, time.perf_counter() - started, jobs)


def base_start(base: RunOutcome) -> PlanTables | None:
    """The base plan's tables as the variants' MIP start (None when the base has no plan
    the checker accepts)."""
    plan = base.plan
    if plan is None or not plan.has_solution or base.check_ok is False:
        return None
    return PlanTables.of(plan)


def _progress_line(done: int, total: int, outcome: RunOutcome) -> str:
    plan = outcome.plan
    what = outcome.status
    if plan is not None and plan.objective is not None:
        what += f", objective {plan.objective:,.0f}"
    if outcome.reason and (plan is None or not plan.has_solution):
        what += f" ({outcome.reason[:120]})"
    start = f"; warm start {outcome.warm_start.split(' ', 1)[0]}" if outcome.warm_start else ""
    return f"[{done}/{total}] {outcome.name}: {what} in {outcome.wall_s:.1f} s{start}"


# --- the comparison -------------------------------------------------------------------------


def expected_tariff_spend(plan: Plan) -> float:
    """Probability-weighted nominal tariff paid over the horizon."""
    spend = plan.tariff_by_country()
    if spend.empty:
        return 0.0
    return float((spend.tariff_cost * spend.scenario.map(plan.scenarios)).sum())


def sourcing_mix(plan: Plan) -> dict[str, float]:
    """Expected share of component purchase value by origin country."""
    sourcing = plan.tables["sourcing"]
    if sourcing.empty:
        return {}
    weighted = sourcing.purchase_cost * sourcing.scenario.map(plan.scenarios)
    by_country = weighted.groupby(sourcing.origin_country).sum()
    total = float(by_country.sum())
    return {str(c): float(v) / total for c, v in by_country.items()} if total > 0 else {}


def sites_opened(plan: Plan) -> str:
    """Sites opened (tier, period) and existing sites closed, in words."""
    parts = []
    for row in plan.tables["sites"].itertuples(index=False):
        if row.status == "open":
            parts.append(f"{row.site} {row.tier} {row.open_period}")
        elif row.status == "closed":
            parts.append(f"{row.site} closes {row.close_period}")
    return "; ".join(parts) or "none"


def _row(outcome: RunOutcome, base: RunOutcome) -> dict[str, Any]:
    plan = outcome.plan
    row: dict[str, Any] = dict.fromkeys(LEADING_COLUMNS)
    row["variant"], row["status"] = outcome.name, outcome.status
    if plan is not None and plan.has_solution:
        row.update(objective=plan.objective, expected_cost=plan.expected_cost(),
                   cvar=plan.cvar(), worst_case_cost=plan.worst_case_cost(),
                   service_level=plan.service_level(), tariff_spend=expected_tariff_spend(plan))
        base_plan = base.plan
        if base_plan is not None and base_plan.objective is not None and (
                plan.objective is not None):
            delta = plan.objective - base_plan.objective
            row["delta_objective"] = delta
            row["delta_objective_pct"] = (100 * delta / abs(base_plan.objective)
                                          if base_plan.objective else None)
        row.update({f"sourcing_{c}": share for c, share in sorted(sourcing_mix(plan).items())})
        row["sites_opened"] = sites_opened(plan)
        if base_plan is not None and base_plan.has_solution and outcome is not base:
            phrases = differences_in_words(first_stage_of(base_plan), first_stage_of(plan))
            row["changes"] = "; ".join(phrases) or "same first-stage decisions as the base"
    row["reason"] = outcome.reason
    row["notes"] = "; ".join(outcome.notes)
    row["gap"] = plan.gap if plan is not None else None
    row["solve_s"] = outcome.wall_s
    return row


def comparison_table(base: RunOutcome, variants: Sequence[RunOutcome]) -> pd.DataFrame:
    """One row per run (base first) with the leading columns, then the sourcing mix by origin
    country, sites opened, changes from the base in words, reason, notes and solve time."""
    rows = [_row(outcome, base) for outcome in (base, *variants)]
    frame = pd.DataFrame(rows)
    sourcing = sorted(c for c in frame.columns if c.startswith("sourcing_"))
    tail = ["sites_opened", "changes", "reason", "notes", "gap", "solve_s"]
    for column in tail:
        if column not in frame:
            frame[column] = None
    frame[sourcing] = frame[sourcing].fillna(0.0) if sourcing else frame[sourcing]
    return frame[[*LEADING_COLUMNS, *sourcing, *tail]]


def write_whatif(result: WhatIfResult, out: str | Path) -> Path:
    """Write every plan, the comparison (CSV and xlsx) and whatif.json."""
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    folders: dict[str, str] = {}
    for outcome in result.runs:
        folder = Path(BASE) if outcome.name == BASE else Path("variants") / folder_name(
            outcome.name)
        folders[outcome.name] = folder.as_posix()
        if outcome.plan is not None:
            outcome.plan.write(target / folder)
        else:
            (target / folder).mkdir(parents=True, exist_ok=True)
        if outcome.notes:
            (target / folder / "notes.txt").write_text("\n".join(outcome.notes) + "\n")
    result.comparison.to_csv(target / "comparison.csv", index=False)
    with pd.ExcelWriter(target / "comparison.xlsx", engine="openpyxl") as writer:
        result.comparison.to_excel(writer, sheet_name="comparison", index=False)
    summary = {
        "jobs": result.jobs,
        "wall_s": result.wall_s,
        "sum_of_solve_s": sum(o.wall_s for o in result.runs),
        "runs": [{"name": o.name, "folder": folders[o.name], "status": o.status,
                  "reason": o.reason, "notes": o.notes, "wall_s": o.wall_s,
                  "check_ok": o.check_ok, "warm_start": o.warm_start} for o in result.runs],
    }
    (target / "whatif.json").write_text(json.dumps(summary, indent=2))
    return target


def plan_from_document(document: dict[str, Any], network: Network) -> Plan:
    """A plan back from its JSON form (`Plan.to_json()`), e.g. a job's stored result;
    `network` gives the scenario probabilities. The solver log is not kept."""
    from reshore.optimizer.results import TABLE_COLUMNS, ModelSize, PlanStatus, Timings

    summary = document["summary"]
    tables = {}
    for name, columns in TABLE_COLUMNS.items():
        rows = document.get(name) or []
        frame = pd.DataFrame(rows)
        tables[name] = frame if rows else pd.DataFrame(columns=columns)
    return Plan(status=PlanStatus(summary["status"]), objective=summary.get("objective"),
                bound=summary.get("bound"), gap=summary.get("gap"),
                timings=Timings(**summary["timings"]), size=ModelSize(**summary["size"]),
                input_hash=summary.get("input_hash", ""), periods=list(network.settings.periods),
                scenarios={s.scenario: s.probability for s in network.scenarios},
                risk=summary.get("risk") or network.settings.risk.model_dump(),
                tables=tables, diagnosis=list(summary.get("diagnosis") or []))
