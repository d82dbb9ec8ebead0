"""Replan jobs: a job whose options carry `replan` (a schedule's later runs, or
`POST /v1/jobs` with `options.replan`) replans its instance against the plan of an earlier
job of the same tenant (`optimizer.replan`), instead of solving from scratch.

Warm-started jobs: a job whose options carry `start_from_job` (a what-if run's variants,
when it asks for warm starts) hands that job's plan to HiGHS as a MIP start
(`optimizer.whatif.warm_start_amend`); when that job has no plan the solve starts from
scratch and says so."""

from __future__ import annotations

import io
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from reshore.api import db, store
from reshore.api.models import Job, JobStatus
from reshore.optimizer.diff import PlanTables, read_plan_table
from reshore.optimizer.replan import ReplanOptions, replan
from reshore.optimizer.results import TABLE_COLUMNS, Plan
from reshore.optimizer.schema import Network
from reshore.optimizer.solve import SolveOptions, solve
from reshore.optimizer.solve.highs import start_verdict
from reshore.optimizer.whatif import warm_start_amend


class PreviousPlanError(ValueError):
    """The job to replan against is not a succeeded job of the tenant with a plan."""


def previous_plan(session: Session, tenant: str, job_id: str,
                  field: str = "replan.previous_job") -> PlanTables:
    """The plan tables of the tenant's earlier job `job_id` (named `field` in errors)."""
    job = session.scalar(select(Job).where(Job.id == job_id, Job.tenant == tenant))
    if job is None:
        raise PreviousPlanError(f"{field}: no job {job_id} of this tenant")
    if job.status != JobStatus.SUCCEEDED or job.plan_status not in ("optimal", "feasible"):
        raise PreviousPlanError(f"{field}: job {job_id} is {job.status} without a plan")
    result = store.result_of(session, job_id)
    assert result is not None
    summary = json.loads(result.plan).get("summary", {})
    tables = {}
    for name in TABLE_COLUMNS:
        text = store.result_table(session, job_id, name)
        if text is None:
            raise PreviousPlanError(f"{field}: job {job_id} has no {name} table")
        tables[name] = read_plan_table(io.StringIO(text), name)
    return PlanTables(tables=tables, summary=summary)


def solve_or_replan(database_url: str, tenant: str, options: dict[str, Any], network: Network,
                    solve_options: SolveOptions) -> tuple[Plan, dict[str, Any] | None]:
    """The job's plan and, for a replan, its report (options, forced changes, diff), for a
    warm-started solve what HiGHS said of the start."""
    spec = options.get("replan")
    if not spec:
        return solve_from(database_url, tenant, options.get("start_from_job"), network,
                          solve_options)
    with db.session_scope(database_url) as session:
        previous = previous_plan(session, tenant, str(spec["previous_job"]))
    result = replan(network, previous, ReplanOptions(
        now=str(spec["now"]), freeze=int(spec.get("freeze", 0)),
        change_penalty=spec.get("change_penalty", 0.0)), solve_options)
    report = result.report()
    report["previous_job"] = spec["previous_job"]
    return result.plan, {"replan": report}


def solve_from(database_url: str, tenant: str, start_job: str | None, network: Network,
               solve_options: SolveOptions) -> tuple[Plan, dict[str, Any] | None]:
    """Solve, with the plan of the tenant's job `start_job` as MIP start when it has one;
    the plan and, with a start job, {"warm_start": {"from_job", "verdict"}}."""
    if not start_job:
        return solve(network, solve_options), None
    try:
        with db.session_scope(database_url) as session:
            start = previous_plan(session, tenant, start_job, field="start_from_job")
    except PreviousPlanError as error:
        solve_options.say(f"solving from scratch: {error}")
        plan = solve(network, solve_options)
        return plan, {"warm_start": {"from_job": start_job, "verdict": f"not given ({error})"}}
    solve_options.say(f"the plan of job {start_job} is the MIP start")
    plan = solve(network, solve_options, amend=warm_start_amend(start))
    verdict = start_verdict(plan.log)
    solve_options.say(f"MIP start {verdict}")
    return plan, {"warm_start": {"from_job": start_job, "verdict": verdict}}
