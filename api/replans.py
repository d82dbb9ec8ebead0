"""Replan jobs: a job whose options carry `replan` (a schedule's later runs, or
`POST /v1/jobs` with `options.replan`) replans its instance against the plan of an earlier
job of the same tenant (`optimizer.replan`), instead of solving from scratch."""

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


class PreviousPlanError(ValueError):
    """The job to replan against is not a succeeded job of the tenant with a plan."""


def previous_plan(session: Session, tenant: str, job_id: str) -> PlanTables:
    """The plan tables of the tenant's earlier job `job_id`."""
    job = session.scalar(select(Job).where(Job.id == job_id, Job.tenant == tenant))
    if job is None:
        raise PreviousPlanError(f"replan.previous_job: no job {job_id} of this tenant")
    if job.status != JobStatus.SUCCEEDED or job.plan_status not in ("optimal", "feasible"):
        raise PreviousPlanError(f"replan.previous_job: job {job_id} is {job.status} without a"
                                " plan to replan against")
    result = store.result_of(session, job_id)
    assert result is not None
    summary = json.loads(result.plan).get("summary", {})
    tables = {}
    for name in TABLE_COLUMNS:
        text = store.result_table(session, job_id, name)
        if text is None:
            raise PreviousPlanError(f"replan.previous_job: job {job_id} has no {name} table")
        tables[name] = read_plan_table(io.StringIO(text), name)
    return PlanTables(tables=tables, summary=summary)


def solve_or_replan(database_url: str, tenant: str, options: dict[str, Any], network: Network,
                    solve_options: SolveOptions) -> tuple[Plan, dict[str, Any] | None]:
    """The job's plan and, for a replan, its report (options, forced changes, diff)."""
    spec = options.get("replan")
    if not spec:
        return solve(network, solve_options), None
    with db.session_scope(database_url) as session:
        previous = previous_plan(session, tenant, str(spec["previous_job"]))
    result = replan(network, previous, ReplanOptions(
        now=str(spec["now"]), freeze=int(spec.get("freeze", 0)),
        change_penalty=spec.get("change_penalty", 0.0)), solve_options)
    report = result.report()
    report["previous_job"] = spec["previous_job"]
    return result.plan, report
