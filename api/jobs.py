"""The job function: one solve, run by the local process pool and by Celery workers alike.

`run_job` claims the job in the store, solves it with a heartbeat thread beside the solver (it
records liveness, progress and log lines, and turns a cancel request into `should_stop`),
checks the plan with the independent checker and stores the plan in every result format. It
never raises: whatever goes wrong is written to the job as the reason it failed.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tenacity
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from reshore.api import db, store
from reshore.api.analyses import run_analysis
from reshore.api.models import Job, JobStatus
from reshore.api.replans import PreviousPlanError, solve_or_replan
from reshore.api.spread import CeleryScenarioHelpers
from reshore.api.webhooks import notify_job_end
from reshore.optimizer.check import CheckReport, check
from reshore.optimizer.replan import ReplanError
from reshore.optimizer.results import Plan, PlanStatus
from reshore.optimizer.schema import InvalidNetwork, Network, parse_network
from reshore.optimizer.solve import SolveOptions, SolveProgress

log = logging.getLogger("reshore.jobs")



@dataclass(frozen=True)
class JobConfig:
    """What a job run needs to know about the service (picklable for the process pool)."""

    database_url: str
    heartbeat_s: float = 2.0
    job_threads: int | None = None
    memory_mb: int = 0
    grace_s: float = 60.0
    cancel_grace_s: float = 10.0
    spread_broker_url: str | None = None
    """Celery workers only: the broker through which scenario relaxations are offered to the
    other workers (`reshore.api.spread`); None: not spread."""
    spread_queue: str = ""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def apply_risk(network: Network, risk: dict[str, Any] | None) -> Network:
    """The instance with the job's risk options in place of its own (validated again)."""
    changes = {key: value for key, value in (risk or {}).items() if value is not None}
    if not changes:
        return network
    tables = network.to_tables()
    tables["settings"]["risk"].update(changes)
    return parse_network(tables)


class _Run:
    """Heartbeat, progress and cancellation of one run, beside the solver thread."""

    def __init__(self, config: JobConfig, job_id: str, attempt: int,
                 time_limit_s: float = 0.0) -> None:
        self.config, self.job_id, self.attempt = config, job_id, attempt
        self.started = time.monotonic()
        self.time_limit_s = time_limit_s
        self.cancel_seen: float | None = None
        self.stop_requested = threading.Event()
        self.lost = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._progress: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> list[str]:
        """Stop the heartbeat; the lines not yet written."""
        self._done.set()
        self._thread.join(timeout=30)
        with self._lock:
            lines, self._lines = self._lines, []
        return lines

    def progress(self, message: str) -> None:
        line = _printable(message.strip())
        with self._lock:
            self._lines.append(line)
            self._progress["message"] = line

    def mip_progress(self, where: SolveProgress) -> None:
        found = {"best_objective": where.best_objective, "bound": where.bound, "gap": where.gap}
        with self._lock:
            self._progress.update({k: v for k, v in found.items() if v is not None})

    def should_stop(self) -> bool:
        return self.stop_requested.is_set() or self.lost.is_set()

    def beat_once(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            progress = dict(self._progress)
        try:
            with db.session_scope(self.config.database_url) as session:
                held, cancel = store.heartbeat(session, self.job_id, self.attempt, progress,
                                               lines)
        except Exception:
            log.exception("job %s: heartbeat failed; retrying", self.job_id)
            with self._lock:
                self._lines[:0] = lines
            return
        if not held:
            log.warning("job %s: run %d no longer holds the job; stopping it", self.job_id,
                        self.attempt)
            self.lost.set()
        if cancel:
            self.stop_requested.set()
            if self.cancel_seen is None:
                self.cancel_seen = time.monotonic()
        self.watchdog()

    def watchdog(self) -> None:
        """Stop this process when the solve overstays: past its time limit plus grace, or a
        cancel not obeyed within the cancel grace (the model was still being built or handed
        to the solver, which do not look at the stop flag). The job gets its final status and
        reason first; whoever runs the process then sees it exit."""
        now = time.monotonic()
        status, reason = None, ""
        if self.time_limit_s > 0 and now - self.started > (self.time_limit_s
                                                            + self.config.grace_s):
            status = JobStatus.FAILED
            reason = overtime_reason(now - self.started, self.time_limit_s,
                                     self.config.grace_s)
        elif self.cancel_seen is not None and now - self.cancel_seen > (
                self.config.cancel_grace_s):
            status, reason = JobStatus.CANCELLED, cancel_overdue_reason(self.config.cancel_grace_s)
        if status is None or self._done.is_set():
            return
        log.warning("job %s: %s", self.job_id, reason)
        try:
            with db.session_scope(self.config.database_url) as session:
                store.end_run(session, self.job_id, self.attempt, status, reason)
        finally:
            os._exit(3)

    def _beat(self) -> None:
        while not self._done.wait(self.config.heartbeat_s):
            self.beat_once()


def overtime_reason(elapsed_s: float, time_limit_s: float, grace_s: float) -> str:
    """Why a job past its time limit plus grace was stopped."""
    return (f"stopped after {elapsed_s:.0f} s: the time limit of {time_limit_s:g} s plus"
            f" {grace_s:g} s of grace passed before the solve returned (building the model and"
            " handing it to the solver count against the limit); reduce the instance (periods,"
            " scenarios, lanes) or raise the time limit")


def cancel_overdue_reason(cancel_grace_s: float) -> str:
    """Why a cancelled job's process was ended."""
    return (f"cancelled: the solve did not stop within {cancel_grace_s:g} s of the request (it"
            " was building the model, handing it to the solver, or in a step of HiGHS that does"
            " not look at requests, such as the root relaxation), so its process was ended")


def run_job(job_id: str, config: JobConfig,
            on_claimed: Callable[[int, float], None] | None = None) -> str:
    """Claim, solve, check and store one job; the job's final status (or `skipped` when it
    was not queued any more). Never raises. `on_claimed(attempt, time_limit_s)` is called once
    the job is claimed (the local executor's supervisor times the job from there)."""
    try:
        attempt = _claim(config, job_id)
    except Exception:
        log.exception("job %s: could not be claimed", job_id)
        return "skipped"
    if attempt is None:
        log.info("job %s: not queued any more (cancelled or taken by another worker)", job_id)
        return "skipped"
    log.info("job %s: run %d started on %s", job_id, attempt, worker_name())
    time_limit_s = _time_limit_of(config, job_id)
    if on_claimed is not None:
        on_claimed(attempt, time_limit_s)
    run = _Run(config, job_id, attempt, time_limit_s)
    run.progress(f"run {attempt} started on {worker_name()}")
    run.start()
    started = time.perf_counter()
    try:
        outcome = _solve(job_id, config, run)
    except Exception as error:
        log.exception("job %s: failed", job_id)  # the traceback goes to the server log only
        reason = failure_reason(error, config)
        outcome = store.Outcome(status=JobStatus.FAILED, error=reason, message=reason)
        run.progress("the job failed: " + reason)
    if outcome.status == JobStatus.FAILED:
        gc.collect()  # a failed build leaves its model in reference cycles: free it now
    lines = run.close()
    lines.append(f"job {outcome.status} after {time.perf_counter() - started:.2f} s")
    try:
        written = _store_outcome(config, job_id, attempt, outcome, lines)
    except Exception as error:
        log.exception("job %s: the outcome could not be stored", job_id)
        written = _store_failure(config, job_id, attempt, error)
        if not written:
            return "skipped"
        outcome = store.Outcome(status=JobStatus.FAILED)
    if not written:
        log.warning("job %s: run %d lost the job before it finished; outcome dropped", job_id,
                    attempt)
        return "skipped"
    log.info("job %s: %s%s in %.2f s", job_id, outcome.status,
             f" ({outcome.plan_status})" if outcome.plan_status else "",
             time.perf_counter() - started)
    notify_job_end(config.database_url, job_id)
    return outcome.status


def failure_reason(error: BaseException, config: JobConfig) -> str:
    """What a user is told about an exception of the solve: a message, no traceback and no
    server path (those go to the server log)."""
    if isinstance(error, MemoryError):
        return memory_reason(config.memory_mb)
    if isinstance(error, InvalidNetwork):
        return f"the instance is not valid: {error}"
    if isinstance(error, ReplanError | PreviousPlanError):
        return f"the replan cannot run: {error}"
    return (f"the solve failed unexpectedly ({type(error).__name__}); the server log has the"
            " details")


def memory_reason(memory_mb: int) -> str:
    """Why a job that ran out of memory failed."""
    limit = f" of {memory_mb:,} MiB (RESHORE_JOB_MEMORY_MB)" if memory_mb else ""
    return (f"the job needed more memory than the per-job limit{limit}; reduce the instance"
            " (periods, scenarios, lanes) or ask the operator to raise the limit")


RETRY_STORE = tenacity.retry(
    retry=tenacity.retry_if_exception_type(OperationalError),
    stop=tenacity.stop_after_attempt(4), wait=tenacity.wait_exponential(multiplier=0.5, max=4),
    before_sleep=tenacity.before_sleep_log(log, logging.WARNING), reraise=True)
"""Store writes of a job's state: a lost connection or a busy database is tried again (four
tries over about 3.5 s); other errors (a value the database refuses) are not."""


@RETRY_STORE
def _claim(config: JobConfig, job_id: str) -> int | None:
    with db.session_scope(config.database_url) as session:
        return store.claim(session, job_id, worker_name())


@RETRY_STORE
def _store_outcome(config: JobConfig, job_id: str, attempt: int, outcome: store.Outcome,
                   lines: list[str]) -> bool:
    outcome = replace(outcome, error=outcome.error and _printable(outcome.error),
                      message=outcome.message and _printable(outcome.message))
    with db.session_scope(config.database_url) as session:
        return store.finish(session, job_id, attempt, outcome, [_printable(x) for x in lines])


@RETRY_STORE
def _store_failure(config: JobConfig, job_id: str, attempt: int, error: Exception) -> bool:
    """When the outcome cannot be stored (e.g. a value the database refuses), the job is
    failed with that reason rather than left running."""
    reason = memory_reason(config.memory_mb) if isinstance(error, MemoryError) else (
        f"the job's result could not be stored ({type(error).__name__}:"
        f" {_printable(str(error).splitlines()[0] if str(error) else '')})")
    outcome = store.Outcome(status=JobStatus.FAILED, error=reason, message=reason)
    with db.session_scope(config.database_url) as session:
        return store.finish(session, job_id, attempt, outcome, [reason])


def _printable(text: str) -> str:
    """A line without NUL and other control characters (PostgreSQL refuses NUL in text)."""
    return "".join(ch if ch.isprintable() or ch == "\t" else "?" for ch in text)


def _time_limit_of(config: JobConfig, job_id: str) -> float:
    with db.session_scope(config.database_url) as session:
        limit = session.scalar(select(Job.time_limit_s).where(Job.id == job_id))
    return float(limit or 0.0)


def _solve(job_id: str, config: JobConfig, run: _Run) -> store.Outcome:
    with db.session_scope(config.database_url) as session:
        row = session.scalar(select(Job).where(Job.id == job_id))
        assert row is not None
        options: dict[str, Any] = json.loads(row.options)
        tables = store.load_instance(session, row.instance_hash)
        time_limit = row.time_limit_s
        tenant = row.tenant
    network = apply_risk(parse_network(tables), options.get("risk"))
    run.progress(f"validated the instance: {len(network.sites)} sites,"
                 f" {len(network.customers)} customers, {len(network.settings.periods)}"
                 f" periods, {len(network.scenarios)} scenarios")
    if run.should_stop():
        return store.Outcome(status=JobStatus.CANCELLED, message="cancelled before solving")
    threads = options.get("threads") or config.job_threads
    if options.get("analysis"):
        return run_analysis(network, options, time_limit, threads, run.progress,
                            run.should_stop)
    helpers = (CeleryScenarioHelpers.on_queue(config.spread_broker_url, config.spread_queue)
               if config.spread_broker_url else None)
    try:
        plan, extra = solve_or_replan(
            config.database_url, tenant, options, network, SolveOptions(
                time_limit_s=time_limit, mip_gap=options.get("mip_gap"), threads=threads,
                random_seed=options.get("random_seed"), progress=run.progress,
                on_progress=run.mip_progress, should_stop=run.should_stop,
                scenario_helpers=helpers))
    finally:
        if helpers is not None:
            helpers.close()
    report = check(network, plan) if plan.has_solution else None
    if report is not None and not report.ok:
        run.progress(f"independent check FAILED:\n{report}")
    status = job_status(plan, report, run.stop_requested.is_set())
    document = plan.to_json()
    document["check"] = {"ok": None if report is None else report.ok,
                         "violations": [] if report is None else
                         [str(v) for v in report.violations]}
    document.update(extra or {})
    workbook, csvs = _files(plan)
    message = f"{plan.status}" + (f", objective {plan.objective:,.2f}"
                                  if plan.objective is not None else "")
    error = None
    if report is not None and not report.ok:
        error = check_failure(report)
        message = error
    return store.Outcome(
        status=status, plan_status=str(plan.status), plan=json.dumps(document, allow_nan=False),
        workbook=workbook, tables=csvs, objective=_finite(plan.objective),
        bound=_finite(plan.bound), gap=_finite(plan.gap), error=error, message=message)


CHECK_FINDINGS_SHOWN = 10
"""Findings of a failed independent check quoted in the job's error."""


def job_status(plan: Plan, report: CheckReport | None, cancel_requested: bool) -> str:
    """A job's final status: cancelled when asked or stopped, failed when the plan fails the
    independent check (its figures cannot be trusted), succeeded otherwise."""
    if plan.status is PlanStatus.CANCELLED or cancel_requested:
        return JobStatus.CANCELLED
    if report is not None and not report.ok:
        return JobStatus.FAILED
    return JobStatus.SUCCEEDED


def check_failure(report: CheckReport) -> str:
    """The job's error for a plan that failed the independent check: its findings."""
    findings = [str(v) for v in report.violations]
    shown = "; ".join(findings[:CHECK_FINDINGS_SHOWN])
    more = (f" (and {len(findings) - CHECK_FINDINGS_SHOWN} more)"
            if len(findings) > CHECK_FINDINGS_SHOWN else "")
    return f"the plan failed the independent check: {shown or report}{more}"


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _files(plan: Plan) -> tuple[bytes, dict[str, str]]:
    """The plan's workbook and its tables as CSV text."""
    with tempfile.TemporaryDirectory(prefix="reshore-plan-") as folder:
        target = plan.write(Path(folder))
        workbook = (target / "plan.xlsx").read_bytes()
        csvs = {name: (target / f"{name}.csv").read_text(encoding="utf-8")
                for name in plan.tables}
    return workbook, csvs
