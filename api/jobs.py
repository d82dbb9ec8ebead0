"""The job function: one solve, run by the local process pool and by Celery workers alike.

`run_job` claims the job in the store, solves it with a heartbeat thread beside the solver (it
records liveness, progress and log lines, and turns a cancel request into `should_stop`),
checks the plan with the independent checker and stores the plan in every result format. It
never raises: whatever goes wrong is written to the job as the reason it failed.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from reshore.api import db, store
from reshore.api.models import Job, JobStatus
from reshore.api.replans import solve_or_replan
from reshore.api.webhooks import notify_job_end
from reshore.optimizer.check import check
from reshore.optimizer.results import Plan, PlanStatus
from reshore.optimizer.schema import Network, parse_network
from reshore.optimizer.solve import SolveOptions, SolveProgress

log = logging.getLogger("reshore.jobs")



@dataclass(frozen=True)
class JobConfig:
    """What a job run needs to know about the service (picklable for the process pool)."""

    database_url: str
    heartbeat_s: float = 2.0
    job_threads: int | None = None


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

    def __init__(self, config: JobConfig, job_id: str, attempt: int) -> None:
        self.config, self.job_id, self.attempt = config, job_id, attempt
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
        with self._lock:
            self._lines.append(message.strip())
            self._progress["message"] = message.strip()

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

    def _beat(self) -> None:
        while not self._done.wait(self.config.heartbeat_s):
            self.beat_once()


def run_job(job_id: str, config: JobConfig) -> str:
    """Claim, solve, check and store one job; the job's final status (or `skipped` when it
    was not queued any more). Never raises."""
    try:
        with db.session_scope(config.database_url) as session:
            attempt = store.claim(session, job_id, worker_name())
    except Exception:
        log.exception("job %s: could not be claimed", job_id)
        return "skipped"
    if attempt is None:
        log.info("job %s: not queued any more (cancelled or taken by another worker)", job_id)
        return "skipped"
    log.info("job %s: run %d started on %s", job_id, attempt, worker_name())
    run = _Run(config, job_id, attempt)
    run.progress(f"run {attempt} started on {worker_name()}")
    run.start()
    started = time.perf_counter()
    try:
        outcome = _solve(job_id, config, run)
    except Exception as error:
        log.exception("job %s: failed", job_id)
        reason = f"{type(error).__name__}: {error}"
        outcome = store.Outcome(status=JobStatus.FAILED, error=reason, message=reason)
        run.progress("the job failed: " + reason)
        for line in traceback.format_exc().splitlines():
            run.progress(line)
    lines = run.close()
    lines.append(f"job {outcome.status} after {time.perf_counter() - started:.2f} s")
    try:
        with db.session_scope(config.database_url) as session:
            written = store.finish(session, job_id, attempt, outcome, lines)
    except Exception:
        log.exception("job %s: the outcome could not be stored", job_id)
        return "skipped"
    if not written:
        log.warning("job %s: run %d lost the job before it finished; outcome dropped", job_id,
                    attempt)
        return "skipped"
    log.info("job %s: %s%s in %.2f s", job_id, outcome.status,
             f" ({outcome.plan_status})" if outcome.plan_status else "",
             time.perf_counter() - started)
    notify_job_end(config.database_url, job_id)
    return outcome.status


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
    plan, replan_report = solve_or_replan(
        config.database_url, tenant, options, network, SolveOptions(
            time_limit_s=time_limit, mip_gap=options.get("mip_gap"), threads=threads,
            random_seed=options.get("random_seed"), progress=run.progress,
            on_progress=run.mip_progress, should_stop=run.should_stop))
    report = check(network, plan) if plan.has_solution else None
    if report is not None and not report.ok:
        run.progress(f"independent check FAILED:\n{report}")
    status = JobStatus.CANCELLED if (plan.status is PlanStatus.CANCELLED
                                     or run.stop_requested.is_set()) else JobStatus.SUCCEEDED
    document = plan.to_json()
    document["check"] = {"ok": None if report is None else report.ok,
                         "violations": [] if report is None else
                         [str(v) for v in report.violations]}
    if replan_report is not None:
        document["replan"] = replan_report
    workbook, csvs = _files(plan)
    return store.Outcome(
        status=status, plan_status=str(plan.status), plan=json.dumps(document, allow_nan=False),
        workbook=workbook, tables=csvs, objective=_finite(plan.objective),
        bound=_finite(plan.bound), gap=_finite(plan.gap),
        message=f"{plan.status}" + (f", objective {plan.objective:,.2f}"
                                    if plan.objective is not None else ""))


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
