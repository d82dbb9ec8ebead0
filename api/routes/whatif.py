"""What-if runs over HTTP: a dataset (or an instance) and a variants document; the base and
every variant run as child solve jobs on the executor (the local pool, or Celery workers on
other machines); status counts the children done; cancelling cancels the children; the
comparison comes as JSON, CSV or xlsx. Also the HTML report of a job or of a what-if run.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from reshore.api import store
from reshore.api.analyses import is_analysis
from reshore.api.deps import DispatcherDep, SessionDep, SettingsDep, TenantDep
from reshore.api.figures import FiguresError
from reshore.api.instances import XLSX, figure_limits
from reshore.api.models import Job, JobStatus, WhatIfRun, as_utc
from reshore.api.routes.jobs import (
    Source,
    _check_threads,
    _no_analysis,
    _source,
    _time_limit,
    checked_size,
    unsolvable_version,
)
from reshore.api.schemas import DatasetRef, Instance, JobCreate, JobOptions, Problem
from reshore.api.variant_runs import VariantRun, run_of, runs_in_child
from reshore.optimizer.io import write_json
from reshore.optimizer.report import write_report
from reshore.optimizer.schema import Network, parse_network
from reshore.optimizer.variants import (
    VariantError,
    VariantsFile,
    apply_all,
    parse_variants,
    variant_count,
)
from reshore.optimizer.whatif import (
    BASE,
    WARM_START,
    RunOutcome,
    comparison_table,
    plan_from_document,
)

router = APIRouter(prefix="/whatif", tags=["what-if"])
MAX_VARIANTS = 200
"""Variants one run may expand to (each is a solve job)."""
reports = APIRouter(prefix="/jobs", tags=["jobs"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such what-if run for this tenant"}}


class WhatIfCreate(BaseModel):
    """A what-if request: the base (an instance or a stored dataset), the variants document
    (the shape of a variants file, docs/whatif.md) and the options of every solve."""

    model_config = ConfigDict(extra="forbid")

    instance: Instance | None = Field(None, description="the base instance (or `dataset`)")
    dataset: DatasetRef | None = Field(None, description="a stored dataset as the base")
    variants: dict[str, Any] = Field(description="{\"variants\": [{\"name\": ..., \"changes\":"
                                     " [...]}]} as in a variants file")
    options: JobOptions = Field(default_factory=JobOptions,
                                description="solver and risk options of every solve")
    warm_start: bool = Field(WARM_START, description="solve the base first and hand its"
                             " plan to every variant as a MIP start (the variants wait for"
                             " the base)")

    @model_validator(mode="after")
    def one_source(self) -> WhatIfCreate:
        if (self.instance is None) == (self.dataset is None):
            raise ValueError("give exactly one of `instance` and `dataset`")
        return self


class WhatIfChild(BaseModel):
    """One solve of the run."""

    name: str = Field(description="`base` or the variant's name")
    job_id: str = Field(description="the child job (GET /v1/jobs/{job_id})")
    status: str = Field(description="the job's status")
    plan_status: str | None = Field(None, description="the plan's status once solved")
    notes: list[str] = Field(default_factory=list, description="rows deleted with a key")


class WhatIfView(BaseModel):
    """A what-if run: children done out of total, and each child."""

    id: str
    status: str = Field(description="queued, running, succeeded (every child finished),"
                        " cancelled (some child cancelled)")
    done: int = Field(description="children finished")
    total: int = Field(description="children in all (the base and every variant)")
    created_at: Any
    children: list[WhatIfChild]
    comparison: str = Field(description="where the comparison is fetched")


def _run(session: SessionDep, tenant: str, run_id: str) -> WhatIfRun:
    run = session.scalar(select(WhatIfRun).where(WhatIfRun.id == run_id,
                                                 WhatIfRun.tenant == tenant))
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no what-if run {run_id}")
    return run


def _children(session: SessionDep, run: WhatIfRun) -> list[tuple[dict[str, Any], Job]]:
    listed: list[dict[str, Any]] = json.loads(run.children)
    jobs = {job.id: job for job in session.scalars(
        select(Job).where(Job.id.in_([c["job_id"] for c in listed])))}
    return [(child, jobs[child["job_id"]]) for child in listed]


def _view(session: SessionDep, run: WhatIfRun) -> WhatIfView:
    children = _children(session, run)
    states = [job.status for _, job in children]
    done = sum(state in JobStatus.FINAL for state in states)
    if done < len(states):
        overall = JobStatus.QUEUED if all(s == JobStatus.QUEUED for s in states) else (
            JobStatus.RUNNING)
    else:
        overall = JobStatus.CANCELLED if JobStatus.CANCELLED in states else JobStatus.SUCCEEDED
    return WhatIfView(
        id=run.id, status=overall, done=done, total=len(states),
        created_at=as_utc(run.created_at),
        children=[WhatIfChild(name=c["name"], job_id=job.id, status=job.status,
                              plan_status=job.plan_status, notes=c.get("notes", []))
                  for c, job in children],
        comparison=f"/v1/whatif/{run.id}/comparison")


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=WhatIfView, responses={
    413: {"model": Problem, "description": "request body or a model too large"},
    422: {"model": Problem, "description": "a bad instance, variants document or variant"}})
def submit_whatif(body: WhatIfCreate, session: SessionDep, tenant: TenantDep,
                  settings: SettingsDep, dispatcher: DispatcherDep,
                  response: Response) -> WhatIfView:
    """Queue the base and every variant as child solve jobs; answers at once."""
    _no_analysis(body.options)
    if body.options.start_from_job is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "options", "start_from_job"], "type": "value_error",
            "msg": "a what-if run starts its variants from its base: give `warm_start`"}])
    source = JobCreate(instance=body.instance, dataset=body.dataset, options=body.options)
    base_source = _source(session, settings, tenant, source)
    _check_threads(base_source.figures, body.options, settings,
                   from_dataset=body.dataset is not None)
    children = []
    base_job: str | None = None
    try:
        document = parse_variants(body.variants, "variants")
        count = variant_count(document)
        if count > MAX_VARIANTS:
            raise VariantError([f"the variants expand to {count} variants; at most"
                                f" {MAX_VARIANTS} per run"])
        for variant in _variant_runs(session, settings, base_source, body.variants, document):
            estimate = checked_size(variant.figures, settings)
            store.store_instance_document(session, variant.digest, variant.document)
            options = body.options.model_dump(mode="json", exclude_none=True)
            if body.warm_start and base_job is not None:
                options["start_from_job"] = base_job
            job, _ = store.create_job(session, store.NewJob(
                tenant=tenant, instance_hash=variant.digest, options=options,
                time_limit_s=_time_limit(variant.figures, body.options, settings),
                estimated_variables=estimate.variables,
                dataset_id=body.dataset.id if body.dataset else None,
                dataset_version=base_source.version,
                warnings=tuple(dict.fromkeys((*base_source.warnings, *variant.warnings)))))
            base_job = base_job or job.id
            children.append({"name": variant.name, "job_id": job.id, "notes": variant.notes})
    except VariantError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"loc": ["body", "variants"], "msg": problem, "type": "variant"}
            for problem in error.problems]) from None
    except FiguresError as error:
        raise unsolvable_version(error, "the dataset version") from error
    run = WhatIfRun(id=store.new_id("wif"), tenant=tenant, children=json.dumps(children))
    session.add(run)
    session.commit()
    if dispatcher is not None:
        dispatcher.wake()
    response.headers["Location"] = f"/v1/whatif/{run.id}"
    return _view(session, run)


def _variant_runs(session: SessionDep, settings: SettingsDep, base: Source,
                  variants: dict[str, Any], document: VariantsFile) -> Iterator[VariantRun]:
    """The base and every variant applied to it: here for an instance of the request, in a
    bounded child process for a stored dataset (`api.variant_runs`)."""
    if base.network is None:
        yield from runs_in_child(store.instance_document(session, base.digest), variants,
                                 figure_limits(settings), BASE)
        return
    yield run_of(BASE, base.network, [])
    for applied in apply_all(base.network, document):
        yield run_of(applied.name, applied.network, applied.notes)


@router.get("/{run_id}", response_model=WhatIfView, responses=NOT_FOUND)
def get_whatif(run_id: str, session: SessionDep, tenant: TenantDep) -> WhatIfView:
    """A what-if run: children done out of total, each child's status."""
    return _view(session, _run(session, tenant, run_id))


@router.delete("/{run_id}", status_code=status.HTTP_202_ACCEPTED, response_model=WhatIfView,
               responses=NOT_FOUND)
def cancel_whatif(run_id: str, session: SessionDep, tenant: TenantDep) -> WhatIfView:
    """Cancel every child that has not finished (queued ones never start)."""
    run = _run(session, tenant, run_id)
    for _, job in _children(session, run):
        if job.status not in JobStatus.FINAL:
            store.cancel_job(session, job)
    session.commit()
    return _view(session, run)


def _outcomes(session: SessionDep, run: WhatIfRun) -> tuple[list[RunOutcome], Network]:
    """Each child as a run outcome (its plan read back from the stored result)."""
    outcomes, base_network = [], None
    for child, job in _children(session, run):
        network = parse_network(store.load_instance(session, job.instance_hash))
        base_network = base_network or network
        result = store.result_of(session, job.id)
        document = json.loads(result.plan) if result is not None else None
        plan = plan_from_document(document, network) if document else None
        reason = "; ".join(plan.diagnosis) if plan is not None else (
            job.error or job.message or "")
        check = (document or {}).get("check", {}).get("ok")
        start = (document or {}).get("warm_start") or {}
        outcomes.append(RunOutcome(child["name"], plan, reason=reason,
                                   notes=child.get("notes", []), check_ok=check,
                                   job_status=job.status, warm_start=start.get("verdict", "")))
    assert base_network is not None
    return outcomes, base_network


@router.get("/{run_id}/comparison", responses={
    200: {"description": "the comparison, one row per run (base first)", "content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "text/csv": {"schema": {"type": "string"}},
        XLSX: {"schema": {"type": "string", "format": "binary"}}}},
    409: {"model": Problem, "description": "some children have not finished"}, **NOT_FOUND})
def get_comparison(run_id: str, session: SessionDep, tenant: TenantDep,
                   format_: Annotated[str, Query(alias="format", pattern="^(json|csv|xlsx)$",
                                                 description="json, csv or xlsx")] = "json"
                   ) -> Response:
    """The comparison table (docs/whatif.md) once every child has finished."""
    run = _run(session, tenant, run_id)
    view = _view(session, run)
    if view.done < view.total:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{view.done} of {view.total} children"
                            " have finished; the comparison comes when all have")
    outcomes, _ = _outcomes(session, run)
    table = comparison_table(outcomes[0], outcomes[1:])
    if format_ == "csv":
        return Response(table.to_csv(index=False), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{run.id}-comparison.csv"'})
    if format_ == "xlsx":
        buffer = io.BytesIO()
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            table.to_excel(writer, sheet_name="comparison", index=False)
        return Response(buffer.getvalue(), media_type=XLSX, headers={
            "Content-Disposition": f'attachment; filename="{run.id}-comparison.xlsx"'})
    return Response(table.to_json(orient="records"), media_type="application/json")


HTML_REPORT: dict[int | str, dict[str, Any]] = {
    200: {"description": "one self-contained HTML file (no network needed to view it)",
          "content": {"text/html": {"schema": {"type": "string"}}}},
    409: {"model": Problem, "description": "not finished, or no plan to draw"}}


@router.get("/{run_id}/report", response_class=Response, responses={**HTML_REPORT,
                                                                    **NOT_FOUND})
def get_whatif_report(run_id: str, session: SessionDep, tenant: TenantDep) -> Response:
    """The what-if run's HTML report: comparison, change per variant, the base plan."""
    run = _run(session, tenant, run_id)
    view = _view(session, run)
    if view.done < view.total:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{view.done} of {view.total} children"
                            " have finished; the report comes when all have")
    outcomes, network = _outcomes(session, run)
    base_plan = outcomes[0].plan
    if base_plan is None or not base_plan.has_solution:
        raise HTTPException(status.HTTP_409_CONFLICT, "the base has no plan to draw")
    with tempfile.TemporaryDirectory(prefix="reshore-report-") as folder:
        target = Path(folder)
        base_plan.write(target / BASE)
        comparison_table(outcomes[0], outcomes[1:]).to_csv(target / "comparison.csv",
                                                           index=False)
        page = write_report(target, network).read_text(encoding="utf-8")
    return Response(page, media_type="text/html")


@reports.get("/{job_id}/report", response_class=Response, responses={**HTML_REPORT,
                                                                     **NOT_FOUND})
def get_job_report(job_id: str, session: SessionDep, tenant: TenantDep) -> Response:
    """The job's plan as one self-contained HTML report."""
    job = store.get_job(session, tenant, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
    if is_analysis(job):
        raise HTTPException(status.HTTP_409_CONFLICT, "an analysis has no plan to draw; its"
                            f" figures are at /v1/analyses/{job.id}/result")
    result = store.result_of(session, job.id)
    if job.status not in JobStatus.FINAL or result is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the job is {job.status} and has no"
                            " plan to draw")
    network = parse_network(store.load_instance(session, job.instance_hash))
    plan = plan_from_document(json.loads(result.plan), network)
    if not plan.has_solution:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the job's plan is {plan.status}")
    with tempfile.TemporaryDirectory(prefix="reshore-report-") as folder:
        target = plan.write(Path(folder) / "plan")
        write_json(network, target / "input.json")
        page = write_report(target, network).read_text(encoding="utf-8")
    return Response(page, media_type="text/html")
