"""The Celery side: the app, its one task, and `reshore worker`.

Settings that make a job survive its worker: `task_acks_late` (the message is acknowledged
only after the job ran), `task_reject_on_worker_lost` (a solver process killed mid-solve puts
the message back), `worker_prefetch_multiplier=1` (a worker holds no jobs it has not started)
and a visibility timeout above the longest job (Redis redelivers an unacknowledged message
after it, e.g. when a whole worker machine died). Whatever the broker does, the store decides:
only one run can claim a job, and the API server's dispatcher queues again any job whose worker
stopped sending heartbeats.

Each solver process caps its address space at `job_memory_mb` (RLIMIT_AS), and a job that
overstays its time limit plus `job_grace_s` (or a cancel by `cancel_grace_s`) is given its final
status by the job's own watchdog, which then ends the process; Celery replaces it.

A solver process that dies mid-job (killed, out of memory) costs only its own job a run: the
worker's main process sees the loss (`JobRequest.on_failure`) and records it with the reason,
as the local executor does, before Celery puts the message back.

SIGTERM of the worker's main process drains it: Celery's warm shutdown takes no new jobs, and
`drain_grace_s` later the solves still running are stopped and their jobs queued again without
counting the attempt (`drain`), the reason in the job's log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import threading
import time
from dataclasses import replace
from typing import Any

from billiard.exceptions import WorkerLostError
from celery import Celery
from celery.signals import worker_process_init, worker_shutting_down
from celery.worker import state
from celery.worker.request import Request
from sqlalchemy import select

from reshore.api import db
from reshore.api.config import Settings, get_settings
from reshore.api.jobs import JobConfig, run_job, worker_name
from reshore.api.models import Job, JobStatus
from reshore.api.spread import RELAX_TASK, solve_offered, spreads_over

log = logging.getLogger("reshore.worker")

TASK_NAME = "reshore.run_job"


def make_celery(settings: Settings) -> Celery:
    app = Celery("reshore", broker=settings.broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.queue,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": int(settings.max_time_limit_s + 600)},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )

    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True,
              Request="reshore.api.worker:JobRequest")
    def run(job_id: str) -> str:
        return run_job(job_id, worker_job_config(get_settings()))

    @app.task(name=RELAX_TASK, acks_late=False, reject_on_worker_lost=False)
    def relax_scenario(solve_id: str, scenario: str) -> str:
        """A scenario another job's solve offered (`reshore.api.spread`): lost with its
        process, since that solve then solves it itself."""
        settings = get_settings()
        done = solve_offered(settings.broker_url, solve_id, scenario, worker_name())
        log.info("scenario %s of solve %s: %s", scenario, solve_id, done)
        return done

    return app


def worker_job_config(settings: Settings) -> JobConfig:
    """A Celery worker's job settings: the local executor's, and scenarios spread over the
    workers through the broker (`spread_scenarios`, with a Redis broker)."""
    from reshore.api.executors import job_config

    config = job_config(settings)
    if not settings.spread_scenarios or not spreads_over(settings.broker_url):
        return config
    return replace(config, spread_broker_url=settings.broker_url, spread_queue=settings.queue)


def held_attempt(job_id: str, pid: int) -> int | None:
    """The attempt of the job's run in solver process `pid` of this host, while it holds the
    job (None when it does not: finished, lost or not claimed yet)."""
    settings = get_settings()
    with db.session_scope(settings.database_url) as session:
        attempt = session.scalar(select(Job.attempts).where(
            Job.id == job_id, Job.status == JobStatus.RUNNING,
            Job.worker == f"{socket.gethostname()}:{pid}"))
    return None if attempt is None else int(attempt)


LOST_STATUS = re.compile(r"(signal|exitcode) (-?\d+)")


def exit_status(error: BaseException) -> int | None:
    """The exit status of a lost pool process, read from billiard's WorkerLostError ('Worker
    exited prematurely: signal 9 (SIGKILL)'); negative for a signal, None when not given."""
    found = LOST_STATUS.search(str(error))
    if found is None:
        return None
    number = int(found.group(2))
    return -number if found.group(1) == "signal" else number


class JobRequest(Request):
    """A job's Celery request, seen from the worker's main process: when the solver process
    running it dies, the job's run is recorded as lost with the reason (e.g. "solver process
    killed (signal 9), probably out of memory") before Celery puts the message back."""

    def on_failure(self, exc_info: Any, send_failed_event: bool = True,
                   return_ok: bool = False) -> None:
        error = exc_info.exception
        error = getattr(error, "exc", error)  # billiard's ExceptionWithTraceback wrapper
        if isinstance(error, WorkerLostError) and self.worker_pid and self.args:
            solver_process_lost(str(self.args[0]), int(self.worker_pid), exit_status(error))
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)


def solver_process_lost(job_id: str, pid: int, exitcode: int | None) -> None:
    """Record the death of the solver process `pid` that ran `job_id` (never raises)."""
    from reshore.api.executors import record_solver_death

    try:
        attempt = held_attempt(job_id, pid)
    except Exception:
        log.exception("job %s: could not read the run of lost process %d", job_id, pid)
        return
    if attempt is not None:
        record_solver_death(get_settings(), job_id, attempt, exitcode)


_draining = threading.Event()
"""Set once the drain started (a second SIGTERM does not start another)."""


@worker_shutting_down.connect
def _drain_on_shutdown(sender: Any = None, how: str = "", **_: Any) -> None:
    """SIGTERM (Celery's warm shutdown, which takes no new jobs): drain in a thread, so that
    running jobs may still finish and be acknowledged meanwhile."""
    if how != "Warm" or _draining.is_set():
        return
    _draining.set()
    threading.Thread(target=drain, args=(str(sender or socket.gethostname()),),
                     name="drain", daemon=True).start()


def running_requests() -> list[Any]:
    """The requests this worker's solver processes are running."""
    for _ in range(10):
        try:
            return [r for r in list(state.active_requests) if r.worker_pid]
        except RuntimeError:  # the set changed while it was copied
            time.sleep(0.01)
    return []


def drain(node: str) -> None:
    """Give running jobs `drain_grace_s` to finish; then queue each one still running again
    without counting its attempt (reason recorded) and end its solver process, so that the
    warm shutdown completes and another worker takes the job."""
    from reshore.api.executors import drain_reason, requeue_interrupted

    settings = get_settings()
    running = running_requests()
    if running:
        log.warning("shutting down: waiting up to %g s for %d running job(s)",
                    settings.drain_grace_s, len(running))
    deadline = time.monotonic() + settings.drain_grace_s
    while running_requests() and time.monotonic() < deadline:
        time.sleep(0.1)
    reason = drain_reason(f"worker {node}", settings.drain_grace_s)
    for request in running_requests():
        job_id, pid = str(request.args[0]), int(request.worker_pid)
        try:
            attempt = held_attempt(job_id, pid)
        except Exception:
            log.exception("job %s: could not read its run", job_id)
            attempt = None
        if attempt is not None:
            requeue_interrupted(settings.database_url, job_id, attempt, reason)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked solver process caps its memory (`job_memory_mb`), opens its own database
    connections and loads the solver."""
    from reshore.api.executors import limit_memory, warm_up

    limit_memory(get_settings().job_memory_mb)
    db.dispose_all(close=False)
    warm_up()


def start_worker(settings: Settings, concurrency: int, name: str | None,
                 loglevel: str) -> None:
    """Run a Celery worker in this process until it is stopped."""
    logging.basicConfig(level=loglevel.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = make_celery(settings)
    argv = ["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel.upper()}",
            "--pool=prefork", f"--queues={settings.queue}", "--without-gossip",
            "--without-mingle"]
    if name:
        argv.append(f"--hostname={name}")
    app.worker_main(argv)


def __getattr__(name: str) -> Any:
    """`app`, for `celery -A reshore.api.worker worker`, made from the environment's settings
    on first use: `reshore worker` makes its own from its options (`start_worker`), and two
    apps in one process would register each task twice."""
    if name == "app":
        made = globals()["app"] = make_celery(get_settings())
        return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
