"""Operations on the job store, shared by the API, the dispatcher and the job function.

Every change of a job's state is one conditional UPDATE, so that two processes can never both
win: a worker claims a job only while it is queued, and a run writes progress and results only
while it still holds the job (its attempt number is the fencing token).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reshore.api.models import (
    Dataset,
    DatasetVersion,
    Job,
    JobLogLine,
    JobResult,
    JobStatus,
    ResultTable,
    StoredInstance,
    utcnow,
)
from reshore.optimizer.schema import canonical

log = logging.getLogger("reshore.store")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def store_instance(session: Session, digest: str, tables: dict[str, Any]) -> None:
    """Keep an instance once per content hash."""
    store_instance_document(session, digest, canonical(tables))


def store_instance_document(session: Session, digest: str, document: str) -> None:
    """Keep an instance, given as its canonical JSON (`canonical`), once per content hash."""
    if session.get(StoredInstance, digest) is None:
        session.add(StoredInstance(hash=digest, document=document, created_at=utcnow()))
        session.flush()


def instance_document(session: Session, digest: str) -> str:
    """A stored instance as its canonical JSON text, not parsed."""
    document = session.scalar(select(StoredInstance.document).where(
        StoredInstance.hash == digest))
    if document is None:
        raise LookupError(f"instance {digest} is not in the store")
    return document


def load_instance(session: Session, digest: str) -> dict[str, Any]:
    stored = session.get(StoredInstance, digest)
    if stored is None:
        raise LookupError(f"instance {digest} is not in the store")
    document: dict[str, Any] = json.loads(stored.document)
    return document


# --- jobs: the API side ---------------------------------------------------------------------


class IdempotencyConflictError(Exception):
    """The idempotency key was used before with another request body."""


@dataclass(frozen=True)
class NewJob:
    tenant: str
    instance_hash: str
    options: dict[str, Any]
    time_limit_s: float
    estimated_variables: int
    dataset_id: str | None = None
    dataset_version: int | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    warnings: tuple[str, ...] = ()


def create_job(session: Session, new: NewJob) -> tuple[Job, bool]:
    """Insert a queued job; with an idempotency key seen before, the earlier job instead
    (False as second value). Raises `IdempotencyConflictError` when the body differs."""
    if new.idempotency_key is not None:
        earlier = _by_idempotency_key(session, new.tenant, new.idempotency_key)
        if earlier is not None:
            return _replay(earlier, new), False
    job = Job(id=new_id("job"), tenant=new.tenant, status=JobStatus.QUEUED,
              instance_hash=new.instance_hash, options=canonical(new.options),
              time_limit_s=new.time_limit_s, estimated_variables=new.estimated_variables,
              dataset_id=new.dataset_id, dataset_version=new.dataset_version,
              idempotency_key=new.idempotency_key, request_hash=new.request_hash,
              warnings=json.dumps(list(new.warnings)), created_at=utcnow(), attempts=0,
              cancel_requested=False)
    session.add(job)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        assert new.idempotency_key is not None
        earlier = _by_idempotency_key(session, new.tenant, new.idempotency_key)
        if earlier is None:
            raise
        return _replay(earlier, new), False
    return job, True


def _by_idempotency_key(session: Session, tenant: str, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.tenant == tenant, Job.idempotency_key == key))


def _replay(earlier: Job, new: NewJob) -> Job:
    if earlier.request_hash != new.request_hash:
        raise IdempotencyConflictError(
            "this Idempotency-Key was used with another request body (job"
            f" {earlier.id}); use a new key for a new job")
    return earlier


def get_job(session: Session, tenant: str, job_id: str) -> Job | None:
    """The tenant's job, or None (also for another tenant's job)."""
    return session.scalar(select(Job).where(Job.id == job_id, Job.tenant == tenant))


def list_jobs(session: Session, tenant: str, statuses: list[str] | None, limit: int,
              before_seq: int | None) -> tuple[list[Job], int | None]:
    """Newest first; the second value is the cursor of the next page, if there is one."""
    query = select(Job).where(Job.tenant == tenant)
    if statuses:
        query = query.where(Job.status.in_(statuses))
    if before_seq is not None:
        query = query.where(Job.seq < before_seq)
    jobs = list(session.scalars(query.order_by(Job.seq.desc()).limit(limit + 1)))
    if len(jobs) > limit:
        return jobs[:limit], jobs[limit - 1].seq
    return jobs, None


def cancel_job(session: Session, job: Job) -> Job:
    """A queued job is cancelled at once and never starts; a running one is asked to stop."""
    now = utcnow()
    queued = session.execute(
        update(Job).where(Job.id == job.id, Job.status == JobStatus.QUEUED)
        .values(status=JobStatus.CANCELLED, finished_at=now, cancel_requested=True,
                message="cancelled before it started")
        .execution_options(synchronize_session=False))
    if getattr(queued, "rowcount", 0) == 0:
        session.execute(update(Job).where(Job.id == job.id, Job.status == JobStatus.RUNNING)
                        .values(cancel_requested=True)
                        .execution_options(synchronize_session=False))
    session.flush()
    session.refresh(job)
    return job


def log_lines(session: Session, job_id: str, offset: int, limit: int) -> list[str]:
    rows = session.scalars(select(JobLogLine.line).where(JobLogLine.job_id == job_id)
                           .order_by(JobLogLine.id).offset(offset).limit(limit))
    return list(rows)


def result_of(session: Session, job_id: str) -> JobResult | None:
    return session.get(JobResult, job_id)


def result_table(session: Session, job_id: str, name: str) -> str | None:
    table = session.get(ResultTable, (job_id, name))
    return None if table is None else table.csv


# --- datasets -------------------------------------------------------------------------------


def find_dataset(session: Session, tenant: str, dataset_id: str) -> Dataset | None:
    return session.scalar(select(Dataset).where(Dataset.id == dataset_id,
                                                Dataset.tenant == tenant))


def dataset_by_name(session: Session, tenant: str, name: str) -> Dataset | None:
    return session.scalar(select(Dataset).where(Dataset.name == name, Dataset.tenant == tenant))


def versions_of(session: Session, dataset_id: str) -> list[DatasetVersion]:
    return list(session.scalars(select(DatasetVersion).where(
        DatasetVersion.dataset_id == dataset_id).order_by(DatasetVersion.version)))


def add_version(session: Session, tenant: str, name: str, digest: str,
                counts: dict[str, int], note: str, dataset: Dataset | None = None,
                warnings: Sequence[str] = (), figures: str | None = None) -> Dataset:
    """Store a version of the named dataset (creating the dataset on its first version), with
    the warnings its reading and validation gave and the figures a job of it needs
    (`api.figures`)."""
    if dataset is None:
        dataset = dataset_by_name(session, tenant, name)
    if dataset is None:
        dataset = Dataset(id=new_id("ds"), tenant=tenant, name=name, created_at=utcnow())
        session.add(dataset)
        session.flush()
    latest = session.scalar(select(func.max(DatasetVersion.version)).where(
        DatasetVersion.dataset_id == dataset.id)) or 0
    session.add(DatasetVersion(dataset_id=dataset.id, version=latest + 1, instance_hash=digest,
                               note=note, counts=json.dumps(counts),
                               warnings=json.dumps(list(warnings)), figures=figures,
                               created_at=utcnow()))
    session.flush()
    return dataset


def list_datasets(session: Session, tenant: str) -> list[Dataset]:
    return list(session.scalars(select(Dataset).where(Dataset.tenant == tenant)
                                .order_by(Dataset.created_at.desc())))


# --- jobs: the worker side ------------------------------------------------------------------


def claim(session: Session, job_id: str, worker: str) -> int | None:
    """Take a queued job to run it; its attempt number, or None when it is not queued any
    more (cancelled, or claimed by another worker)."""
    now = utcnow()
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED,
                          Job.cancel_requested.is_(False))
        .values(status=JobStatus.RUNNING, attempts=Job.attempts + 1, started_at=now,
                heartbeat_at=now, worker=worker, best_objective=None, bound=None, gap=None,
                message="started")
        .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        return None
    attempts = session.scalar(select(Job.attempts).where(Job.id == job_id))
    return int(attempts or 0)


def _holding(job_id: str, attempt: int) -> Any:
    return and_(Job.id == job_id, Job.status == JobStatus.RUNNING, Job.attempts == attempt)


def heartbeat(session: Session, job_id: str, attempt: int, progress: dict[str, Any],
              lines: list[str]) -> tuple[bool, bool]:
    """Record liveness, progress and log lines; (still held, cancel requested)."""
    values: dict[str, Any] = {"heartbeat_at": utcnow(), **progress}
    result = session.execute(update(Job).where(_holding(job_id, attempt)).values(**values)
                             .execution_options(synchronize_session=False))
    held = getattr(result, "rowcount", 0) == 1
    if held and lines:
        append_log(session, job_id, attempt, lines)
    cancel = bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))
    return held, cancel


def append_log(session: Session, job_id: str, attempt: int, lines: list[str]) -> None:
    now = utcnow()
    session.add_all(JobLogLine(job_id=job_id, attempt=attempt, line=line, created_at=now)
                    for line in lines)


@dataclass(frozen=True)
class Outcome:
    status: str
    plan_status: str | None = None
    error: str | None = None
    plan: str | None = None
    workbook: bytes | None = None
    tables: dict[str, str] | None = None
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    message: str | None = None


def finish(session: Session, job_id: str, attempt: int, outcome: Outcome,
           lines: list[str]) -> bool:
    """Write the outcome of a run that still holds its job; False when it does not."""
    result = session.execute(
        update(Job).where(_holding(job_id, attempt))
        .values(status=outcome.status, plan_status=outcome.plan_status, error=outcome.error,
                finished_at=utcnow(), heartbeat_at=utcnow(), best_objective=outcome.objective,
                bound=outcome.bound, gap=outcome.gap, message=outcome.message)
        .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        return False
    append_log(session, job_id, attempt, lines)
    if outcome.plan is not None:
        session.execute(delete(JobResult).where(JobResult.job_id == job_id))
        session.execute(delete(ResultTable).where(ResultTable.job_id == job_id))
        session.add(JobResult(job_id=job_id, plan=outcome.plan, workbook=outcome.workbook,
                              created_at=utcnow()))
        session.add_all(ResultTable(job_id=job_id, name=name, csv=csv)
                        for name, csv in (outcome.tables or {}).items())
    return True


# --- the dispatcher's side ------------------------------------------------------------------


def recover_lost(session: Session, lease: timedelta, max_attempts: int) -> list[str]:
    """Running jobs whose heartbeat stopped: run again, or failed after `max_attempts`
    runs, or cancelled when a cancel was asked for. Returns one line per job changed."""
    cutoff = utcnow() - lease
    stale = list(session.scalars(select(Job).where(
        Job.status == JobStatus.RUNNING,
        or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff))))
    return [line for job in stale
            if (line := lost(session, job.id, job.attempts, max_attempts,
                             f"its worker ({job.worker}) stopped sending heartbeats",
                             cutoff=cutoff))]


def lost(session: Session, job_id: str, attempt: int, max_attempts: int, reason: str,
         cutoff: datetime | None = None) -> str | None:
    """A run of the job was lost: queue it again, fail it or cancel it."""
    now = utcnow()
    held = _holding(job_id, attempt)
    if cutoff is not None:
        held = and_(held, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff))
    cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
    if cancel:
        values: dict[str, Any] = {"status": JobStatus.CANCELLED, "finished_at": now,
                                  "message": f"cancelled; {reason}"}
        line = f"run {attempt} lost ({reason}); the job was being cancelled: cancelled"
    elif attempt >= max_attempts:
        error = (f"the job was lost {attempt} time(s) and is not run again: {reason}"
                 f" (run {attempt} of at most {max_attempts})")
        values = {"status": JobStatus.FAILED, "finished_at": now, "error": error,
                  "message": error}
        line = f"run {attempt} lost ({reason}); failed after {attempt} run(s)"
    else:
        values = {"status": JobStatus.QUEUED, "dispatched_at": None,
                  "message": f"queued again: run {attempt} was lost ({reason})"}
        line = f"run {attempt} lost ({reason}); queued again"
    result = session.execute(update(Job).where(held).values(**values)
                             .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        return None
    append_log(session, job_id, attempt, [line])
    return f"job {job_id}: {line}"


def end_run(session: Session, job_id: str, attempt: int, status: str, reason: str) -> bool:
    """Give a run that still holds its job a final status (failed or cancelled) with the
    reason, e.g. when its solver process was stopped at its deadline; False when the run no
    longer holds the job."""
    now = utcnow()
    values: dict[str, Any] = {"status": status, "finished_at": now, "message": reason}
    if status == JobStatus.FAILED:
        values["error"] = reason
    result = session.execute(update(Job).where(_holding(job_id, attempt)).values(**values)
                             .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        return False
    append_log(session, job_id, attempt, [reason])
    return True


def requeue_uncounted(session: Session, job_id: str, attempt: int, reason: str) -> bool:
    """Queue again a run that was interrupted through no fault of the job (the server shut
    down): its attempt is given back, the reason recorded."""
    line = f"run {attempt} interrupted ({reason}); queued again, the attempt is not counted"
    result = session.execute(
        update(Job).where(_holding(job_id, attempt))
        .values(status=JobStatus.QUEUED, attempts=Job.attempts - 1, dispatched_at=None,
                message=f"queued again: {reason}")
        .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        return False
    append_log(session, job_id, attempt, [line])
    return True


def undispatch(session: Session, job_ids: list[str] | None = None,
               older_than: datetime | None = None) -> int:
    """Queued jobs handed to an executor that will never run them are handed out again."""
    query = update(Job).where(Job.status == JobStatus.QUEUED, Job.dispatched_at.is_not(None))
    if job_ids is not None:
        query = query.where(Job.id.in_(job_ids))
    if older_than is not None:
        query = query.where(Job.dispatched_at < older_than)
    result = session.execute(query.values(dispatched_at=None)
                             .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _waits_for_start(session: Session, options: str) -> bool:
    """Whether the job starts from another job's plan (`start_from_job`) that has not
    finished yet."""
    start_job = json.loads(options).get("start_from_job")
    if not start_job:
        return False
    state = session.scalar(select(Job.status).where(Job.id == start_job))
    return state is not None and state not in JobStatus.FINAL


def dispatchable(session: Session, capacity: int, tenant_limit: int) -> list[str]:
    """Mark up to `capacity` queued jobs as handed out, oldest first, keeping each tenant
    under `tenant_limit` jobs handed out or running and holding back jobs whose start job
    has not finished; their ids."""
    if capacity <= 0:
        return []
    active = dict(session.execute(
        select(Job.tenant, func.count()).where(or_(
            Job.status == JobStatus.RUNNING,
            and_(Job.status == JobStatus.QUEUED, Job.dispatched_at.is_not(None))))
        .group_by(Job.tenant)).all())
    waiting = session.execute(
        select(Job.id, Job.tenant, Job.options).where(Job.status == JobStatus.QUEUED,
                                                      Job.dispatched_at.is_(None))
        .order_by(Job.seq).limit(max(capacity * 20, 100))).all()
    chosen: list[str] = []
    for job_id, tenant, options in waiting:
        if len(chosen) >= capacity:
            break
        if active.get(tenant, 0) >= tenant_limit or _waits_for_start(session, options):
            continue
        result = session.execute(
            update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED,
                              Job.dispatched_at.is_(None))
            .values(dispatched_at=utcnow()).execution_options(synchronize_session=False))
        if getattr(result, "rowcount", 0) == 1:
            chosen.append(job_id)
            active[tenant] = active.get(tenant, 0) + 1
    return chosen
