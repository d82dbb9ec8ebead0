"""Analyses: the tariff-risk analytics of `reshore analyze` as a job (docs/analytics.md).

An analysis is a job of its own kind (its options carry `analysis`): queued, run by the
executor (the local pool or a Celery worker), followed, cancelled and listed like any job,
and its result is the document `reshore analyze --json` prints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from reshore.api import store
from reshore.api.analyses import analysis_time_limit, is_analysis
from reshore.api.deps import DispatcherDep, SessionDep, SettingsDep, TenantDep
from reshore.api.models import Job, JobStatus
from reshore.api.routes.jobs import (
    _check_threads,
    _source,
    _time_limit,
    checked_size,
    finished_result,
    job_view,
)
from reshore.api.schemas import AnalysisCreate, JobCreate, JobLinks, JobView, Problem

router = APIRouter(prefix="/analyses", tags=["analyses"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such analysis for this tenant"}}

ANALYSIS_DOC: dict[str, Any] = {
    "type": "object",
    "description": "the figures of `reshore analyze --json`: rp, ws, ev, eev, evpi, vss,"
    " ws_by_scenario, rp_decisions, ev_decisions, frontier, break_even, site_values",
    "properties": {key: {"type": ["number", "null"]}
                   for key in ("rp", "ws", "ev", "eev", "evpi", "vss")},
}


def analysis_view(job: Job) -> JobView:
    """The job's view with the analysis's own links."""
    base = f"/v1/analyses/{job.id}"
    return job_view(job).model_copy(update={"links": JobLinks(
        self_=base, result=f"{base}/result", log=f"/v1/jobs/{job.id}/log", cancel=base)})


def _analysis(session: SessionDep, tenant: str, analysis_id: str) -> Job:
    job = store.get_job(session, tenant, analysis_id)
    if job is None or not is_analysis(job):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no analysis {analysis_id}")
    return job


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobView, responses={
    413: {"model": Problem, "description": "request body or model too large"},
    422: {"model": Problem, "description": "every bad field, table, row and column"}})
def submit_analysis(body: AnalysisCreate, session: SessionDep, tenant: TenantDep,
                    settings: SettingsDep, dispatcher: DispatcherDep,
                    response: Response) -> JobView:
    """Queue an analysis of an instance or a stored dataset; answers at once. Its time limit
    is the per-sub-solve limit times the sub-solves it runs at most."""
    source = _source(session, settings, tenant, JobCreate(
        instance=body.instance, dataset=body.dataset, options=body.options))
    _check_threads(source.figures, body.options, settings,
                   from_dataset=body.dataset is not None)
    estimate = checked_size(source.figures, settings)
    if source.network is not None:
        store.store_instance(session, source.digest, source.network.to_tables())
    options = body.options.model_dump(mode="json", exclude_none=True)
    options["analysis"] = body.analysis.model_dump(mode="json")
    per_sub_solve = _time_limit(source.figures, body.options, settings)
    job, _ = store.create_job(session, store.NewJob(
        tenant=tenant, instance_hash=source.digest, options=options,
        time_limit_s=analysis_time_limit(source.figures, options["analysis"], per_sub_solve),
        estimated_variables=estimate.variables,
        dataset_id=body.dataset.id if body.dataset else None,
        dataset_version=source.version, warnings=source.warnings))
    session.commit()
    if dispatcher is not None:
        dispatcher.wake()
    response.headers["Location"] = f"/v1/analyses/{job.id}"
    return analysis_view(job)


@router.get("/{analysis_id}", response_model=JobView, responses=NOT_FOUND)
def get_analysis(analysis_id: str, session: SessionDep, tenant: TenantDep) -> JobView:
    """The analysis's status; `progress.message` says which sub-solve it is at."""
    return analysis_view(_analysis(session, tenant, analysis_id))


@router.get("/{analysis_id}/result", responses={
    200: {"description": "the analysis", "content": {
        "application/json": {"schema": ANALYSIS_DOC}}},
    409: {"model": Problem, "description": "the analysis has not finished"}, **NOT_FOUND})
def get_analysis_result(analysis_id: str, session: SessionDep, tenant: TenantDep) -> Response:
    """The figures, as `reshore analyze --json` prints them."""
    job = _analysis(session, tenant, analysis_id)
    result = finished_result(session, job, "analysis", "result")
    return Response(result.plan, media_type="application/json")


@router.delete("/{analysis_id}", status_code=status.HTTP_202_ACCEPTED, response_model=JobView,
               responses={409: {"model": Problem, "description": "already finished"},
                          **NOT_FOUND})
def cancel_analysis(analysis_id: str, session: SessionDep, tenant: TenantDep) -> JobView:
    """Cancel: a queued analysis never starts; a running one stops within seconds (the
    sub-solve under way is interrupted, the others never start)."""
    job = _analysis(session, tenant, analysis_id)
    if job.status in JobStatus.FINAL:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the analysis already {job.status}")
    return analysis_view(store.cancel_job(session, job))
