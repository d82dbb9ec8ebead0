"""The dispatcher: a thread of the API server that hands queued jobs to the executor.

Each pass (every `dispatch_interval_s`, or at once when a job is submitted or finishes):
1. runs whose worker is gone are recovered: queued again, or failed after `max_attempts`;
   a worker is gone when its heartbeat is older than `job_lease_s`, or soon (`gone_settle_s`)
   when it ran on this host and its process no longer exists (the local executor and Celery
   workers record the loss of their own solver processes themselves, with the reason);
2. queued jobs are handed out oldest first, within the executor's free slots and each
   tenant's `tenant_max_running`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from sqlalchemy import select

from reshore.api import db, store
from reshore.api.config import Settings
from reshore.api.executors import Executor
from reshore.api.models import Job, JobStatus, utcnow

log = logging.getLogger("reshore.dispatcher")

REDISPATCH_AFTER = timedelta(minutes=30)
"""A job handed to Celery that no worker claimed for this long is sent again (a broker that
lost its messages); a duplicate message is harmless, since only one run can claim a job."""


def _process_gone(worker: str | None) -> bool:
    """True when `worker` (host:pid) ran on this host and that process no longer exists."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


GONE_SETTLE_S = 10.0
"""A Celery worker notices a dead pool process within about 5 s (its pool maintenance timer)."""


def gone_settle_s(settings: Settings) -> float:
    """How old a run's heartbeat must be before the dispatcher recovers it for a process that
    is gone: the supervisor of that process (a Celery worker's main process) first has time to
    record the true reason, e.g. "solver process killed (signal 9)"."""
    return max(GONE_SETTLE_S, 2 * settings.heartbeat_s)


class Dispatcher:
    def __init__(self, settings: Settings, executor: Executor) -> None:
        self.settings = settings
        self.executor = executor
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self.passes = 0

    def start(self) -> None:
        if self.executor.name == "local":
            with db.session_scope(self.settings.database_url) as session:
                count = store.undispatch(session)
            if count:
                log.info("%d queued job(s) from before the restart will be run", count)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.settings.dispatch_interval_s)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self.pass_once()
            except Exception:
                log.exception("dispatcher pass failed; trying again")

    def pass_once(self) -> list[str]:
        settings = self.settings
        with db.session_scope(settings.database_url) as session:
            for line in store.recover_lost(session, timedelta(seconds=settings.job_lease_s),
                                           settings.max_attempts):
                log.warning(line)
            settled = utcnow() - timedelta(seconds=gone_settle_s(settings))
            running = session.execute(select(Job.id, Job.attempts, Job.worker).where(
                Job.status == JobStatus.RUNNING, Job.heartbeat_at < settled)).all()
            for job_id, attempt, worker in running:
                if _process_gone(worker) and not self.executor.owns(worker or ""):
                    gone = store.lost(session, job_id, attempt, settings.max_attempts,
                                      f"its worker process {worker} is gone", cutoff=settled)
                    if gone:
                        log.warning(gone)
            if self.executor.name == "celery":
                store.undispatch(session, older_than=utcnow() - REDISPATCH_AFTER)
            chosen = store.dispatchable(session, self.executor.free_slots(),
                                        settings.tenant_max_running)
        for job_id in chosen:
            try:
                self.executor.submit(job_id)
                log.info("job %s: handed to the %s executor", job_id, self.executor.name)
            except Exception as error:
                log.error("job %s: could not be handed out (%s); it stays queued", job_id, error)
                with db.session_scope(settings.database_url) as session:
                    store.undispatch(session, [job_id])
        self.passes += 1
        return chosen
