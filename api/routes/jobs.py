"""Jobs: submit, follow, fetch the plan, read the log, cancel, list."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response, status

from reshore.api import store
from reshore.api.analyses import is_analysis
from reshore.api.deps import DispatcherDep, SessionDep, SettingsDep, TenantDep
from reshore.api.estimate import SizeEstimate
from reshore.api.figures import FiguresError, InstanceFigures, figures_of, recorded_figures
from reshore.api.instances import XLSX, figure_limits, validated, within_limits
from reshore.api.models import DatasetVersion, Job, JobResult, JobStatus, as_utc, utcnow
from reshore.api.schemas import (
    DatasetRef,
    JobCreate,
    JobLinks,
    JobOptions,
    JobPage,
    JobState,
    JobView,
    Problem,
    Progress,
    TableName,
)
from reshore.optimizer.schema import Network, canonical
from reshore.optimizer.solve import input_hash

router = APIRouter(prefix="/jobs", tags=["jobs"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such job for this tenant"}}


def job_view(job: Job) -> JobView:
    started, finished = as_utc(job.started_at), as_utc(job.finished_at)
    elapsed = None
    if started is not None:
        elapsed = ((finished or utcnow()) - started).total_seconds()
    base = f"/v1/jobs/{job.id}"
    dataset = None
    if job.dataset_id is not None:
        dataset = DatasetRef(id=job.dataset_id, version=job.dataset_version)
    return JobView(
        id=job.id, status=job.status,
        plan_status=job.plan_status,
        created_at=as_utc(job.created_at) or job.created_at,
        started_at=started, finished_at=finished, attempts=job.attempts,
        time_limit_s=job.time_limit_s, options=JobOptions.model_validate_json(job.options),
        dataset=dataset,
        estimated_variables=job.estimated_variables,
        progress=Progress(best_objective=job.best_objective, bound=job.bound, gap=job.gap,
                          elapsed_s=elapsed, message=job.message),
        error=job.error, warnings=json.loads(job.warnings or "[]"),
        links=JobLinks(self_=base, result=f"{base}/result", log=f"{base}/log", cancel=base))


def _request_hash(body: JobCreate) -> str:
    return hashlib.sha256(canonical(body.model_dump(mode="json")).encode()).hexdigest()


@dataclass(frozen=True)
class Source:
    """What a job solves: the instance's hash, its figures (`api.figures`) and warnings, and
    either the instance that came in the body or the dataset version named."""

    digest: str
    figures: InstanceFigures
    warnings: tuple[str, ...]
    network: Network | None = None
    version: int | None = None


def _source(session: SessionDep, settings: SettingsDep, tenant: str,
            body: JobCreate) -> Source:
    """The instance to solve. A dataset version is not parsed here: its figures were recorded
    when it was validated (or are computed once, in a bounded child process)."""
    if body.dataset is None:
        network = validated(body.instance, settings)
        return Source(digest=input_hash(network), figures=figures_of(network),
                      warnings=network.warnings, network=network)
    version = _dataset_version(session, tenant, body.dataset)
    try:
        figures = recorded_figures(session, version, figure_limits(settings))
    except FiguresError as error:
        raise unsolvable_version(error, f"version {version.version}") from error
    return Source(digest=version.instance_hash, figures=figures,
                  warnings=tuple(json.loads(version.warnings)), version=version.version)


def unsolvable_version(error: FiguresError, which: str) -> HTTPException:
    """422 for a dataset version (`which`) whose stored instance cannot be solved."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
        "loc": ["body", "dataset", "version"], "type": "invalid_dataset",
        "msg": f"{which} cannot be solved: {error.reason}", "errors": error.errors}])


def _dataset_version(session: SessionDep, tenant: str, ref: DatasetRef) -> DatasetVersion:
    dataset = store.find_dataset(session, tenant, ref.id)
    if dataset is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "dataset", "id"], "msg": "no such dataset", "type": "not_found"}])
    versions = {v.version: v for v in store.versions_of(session, dataset.id)}
    number = ref.version or max(versions)
    if number not in versions:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "dataset", "version"], "type": "not_found",
            "msg": f"no such version; versions are 1 to {max(versions)}"}])
    return versions[number]


def checked_size(figures: InstanceFigures, settings: SettingsDep) -> SizeEstimate:
    """The recorded size estimate; 413 when it exceeds the server's limits."""
    return within_limits(figures.estimate, len(figures.periods), settings)


def _time_limit(figures: InstanceFigures, options: JobOptions, settings: SettingsDep) -> float:
    if options.time_limit_s is not None and options.time_limit_s > settings.max_time_limit_s:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "options", "time_limit_s"], "type": "less_than_equal",
            "msg": f"must be at most {settings.max_time_limit_s:g} s (this server's limit)"}])
    asked = options.time_limit_s or figures.time_limit_s
    return min(asked or settings.default_time_limit_s, settings.max_time_limit_s)


def _no_analysis(options: JobOptions) -> None:
    """An analysis is submitted as one (POST /v1/analyses), which sets its time limit."""
    if options.analysis is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "options", "analysis"], "type": "value_error",
            "msg": "an analysis is submitted with POST /v1/analyses"}])


def _check_start_job(session: SessionDep, tenant: str, options: JobOptions) -> None:
    """The job to start from is one of the tenant's."""
    if options.start_from_job is not None and store.get_job(
            session, tenant, options.start_from_job) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "options", "start_from_job"], "type": "not_found",
            "msg": f"no job {options.start_from_job} of this tenant"}])


def _check_threads(figures: InstanceFigures, options: JobOptions, settings: SettingsDep,
                   from_dataset: bool) -> None:
    """`threads`, asked for by the job or by the instance's settings.solver, is at most the
    cores of a worker (`max_job_threads`): more would only oversubscribe the machine."""
    most = settings.max_job_threads
    where: list[str | int] = (["body", "dataset"] if from_dataset
                              else ["body", "instance", "settings", "solver", "threads"])
    for loc, asked in ((["body", "options", "threads"], options.threads),
                       (where, figures.threads)):
        if asked is not None and not 1 <= asked <= most:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
                "loc": loc, "type": "less_than_equal",
                "msg": f"threads must be between 1 and {most} (the cores of a worker of this"
                       f" server); got {asked}"
                       + (" in the dataset's settings.solver" if loc is where else "")}])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobView, responses={
    409: {"model": Problem, "description": "Idempotency-Key reused with another body"},
    413: {"model": Problem, "description": "request body or model too large"},
    422: {"model": Problem, "description": "every bad field, table, row and column"}})
def submit_job(body: JobCreate, session: SessionDep, tenant: TenantDep, settings: SettingsDep,
               dispatcher: DispatcherDep, response: Response,
               idempotency_key: Annotated[str | None, Header(
                   max_length=200, description="the same key and body give the same job")]
               = None) -> JobView:
    """Queue a solve of an instance or a stored dataset; answers at once with the job."""
    _no_analysis(body.options)
    _check_start_job(session, tenant, body.options)
    source = _source(session, settings, tenant, body)
    _check_threads(source.figures, body.options, settings,
                   from_dataset=body.dataset is not None)
    estimate = checked_size(source.figures, settings)
    if source.network is not None:
        store.store_instance(session, source.digest, source.network.to_tables())
    try:
        job, created = store.create_job(session, store.NewJob(
            tenant=tenant, instance_hash=source.digest,
            options=body.options.model_dump(mode="json", exclude_none=True),
            time_limit_s=_time_limit(source.figures, body.options, settings),
            estimated_variables=estimate.variables,
            dataset_id=body.dataset.id if body.dataset else None,
            dataset_version=source.version, idempotency_key=idempotency_key,
            request_hash=_request_hash(body), warnings=source.warnings))
    except store.IdempotencyConflictError as conflict:
        raise HTTPException(status.HTTP_409_CONFLICT, str(conflict)) from conflict
    session.commit()
    if dispatcher is not None and created:
        dispatcher.wake()
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return job_view(job)


@router.get("", response_model=JobPage)
def list_jobs(session: SessionDep, tenant: TenantDep,
              status_: Annotated[list[JobState] | None, Query(
                  alias="status", description="only jobs in these states (repeatable)")] = None,
              limit: Annotated[int, Query(ge=1, le=200, description="jobs per page")] = 50,
              cursor: Annotated[str | None, Query(
                  max_length=20, pattern=r"^\d{1,18}$",
                  description="`next_cursor` of the previous page")] = None) -> JobPage:
    """The tenant's jobs, newest first, a page at a time."""
    jobs, after = store.list_jobs(session, tenant, list(status_) if status_ else None, limit,
                                  int(cursor) if cursor else None)
    next_link = None
    if after is not None:
        query = "".join(f"status={s}&" for s in status_ or [])
        next_link = f"/v1/jobs?{query}limit={limit}&cursor={after}"
    return JobPage(items=[job_view(job) for job in jobs],
                   next_cursor=None if after is None else str(after), next=next_link)


def _job(session: SessionDep, tenant: str, job_id: str) -> Job:
    job = store.get_job(session, tenant, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
    return job


@router.get("/{job_id}", response_model=JobView, responses=NOT_FOUND)
def get_job(job_id: str, session: SessionDep, tenant: TenantDep) -> JobView:
    """A job's status and progress: best objective, bound, gap, elapsed time."""
    return job_view(_job(session, tenant, job_id))


PLAN_DOC: dict[str, Any] = {
    "type": "object",
    "description": "`summary` (status, objective, bound, gap, risk figures, timings, size),"
    " `check` (the independent plan checker's verdict) and each plan table as a list of rows",
    "properties": {"summary": {"type": "object"}, "check": {"type": "object"}},
}


def finished_result(session: SessionDep, job: Job, kind: str, holds: str) -> JobResult:
    """The stored result of a finished job; 409 while it runs, 404 when it ended without one
    (`kind`: what the job is called, `holds`: what its result is, in the messages)."""
    if job.status not in JobStatus.FINAL:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"the {kind} is {job.status}; its result comes when it finishes")
    result = store.result_of(session, job.id)
    if result is None:
        reason = f": {job.error}" if job.error else ""
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"the {kind} {job.status} without a {holds}{reason}")
    return result


@router.get("/{job_id}/result", responses={
    200: {"description": "the plan", "content": {
        "application/json": {"schema": PLAN_DOC},
        XLSX: {"schema": {"type": "string", "format": "binary"}},
        "text/csv": {"schema": {"type": "string"}}}},
    409: {"model": Problem, "description": "the job has not finished"}, **NOT_FOUND})
def get_result(job_id: str, session: SessionDep, tenant: TenantDep,
               format_: Annotated[str, Query(alias="format", pattern="^(json|xlsx)$",
                                             description="json (default) or xlsx")] = "json",
               table: Annotated[TableName | None, Query(
                   description="one plan table as CSV instead")] = None) -> Response:
    """The plan: JSON, the xlsx workbook, or one table as CSV."""
    job = _job(session, tenant, job_id)
    result = finished_result(session, job, "job", "plan")
    if is_analysis(job) and (table is not None or format_ != "json"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "an analysis has its figures as JSON"
                            " only (no plan tables, no workbook)")
    if table is not None:
        csv = store.result_table(session, job.id, table) or ""
        return Response(csv, media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{job.id}-{table}.csv"'})
    if format_ == "xlsx":
        return Response(result.workbook or b"", media_type=XLSX, headers={
            "Content-Disposition": f'attachment; filename="{job.id}.xlsx"'})
    return Response(result.plan, media_type="application/json")


@router.get("/{job_id}/log", responses={
    200: {"description": "the log, one line per line",
          "content": {"text/plain": {"schema": {"type": "string"}}}}, **NOT_FOUND})
def get_log(job_id: str, session: SessionDep, tenant: TenantDep,
            offset: Annotated[int, Query(ge=0, le=10**9, description="lines to skip")] = 0,
            limit: Annotated[int, Query(ge=1, le=100_000, description="lines at most")]
            = 100_000) -> Response:
    """The job's progress and solver log as plain text (`offset` to follow it)."""
    job = _job(session, tenant, job_id)
    lines = store.log_lines(session, job.id, offset, limit)
    return Response("".join(f"{line}\n" for line in lines), media_type="text/plain",
                    headers={"X-Next-Offset": str(offset + len(lines))})


@router.delete("/{job_id}", status_code=status.HTTP_202_ACCEPTED, response_model=JobView,
               responses={409: {"model": Problem, "description": "the job already finished"},
                          **NOT_FOUND})
def cancel_job(job_id: str, session: SessionDep, tenant: TenantDep) -> JobView:
    """Cancel: a queued job never starts; a running solve stops within seconds."""
    job = _job(session, tenant, job_id)
    if job.status in JobStatus.FINAL:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the job already {job.status}")
    return job_view(store.cancel_job(session, job))
