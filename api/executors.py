"""Where jobs run: `local` (a process pool inside the server) or `celery` (remote workers).

Both run `api.jobs.run_job`. The dispatcher (`api.dispatcher`) decides which queued jobs are
handed out; an executor only needs to say how many more it can take and to start one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from sqlalchemy import select

from reshore.api import db, store
from reshore.api.config import Settings
from reshore.api.jobs import JobConfig, run_job
from reshore.api.models import Job

log = logging.getLogger("reshore.executor")


class Executor(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def free_slots(self) -> int: ...

    def submit(self, job_id: str) -> None: ...

    def check(self) -> str:
        """'ok', or why the executor cannot run jobs now."""
        ...


def job_config(settings: Settings) -> JobConfig:
    return JobConfig(database_url=settings.database_url, heartbeat_s=settings.heartbeat_s,
                     job_threads=settings.job_threads)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)  # the server died: stop solving for nobody


def _init_process(parent: int, level: str) -> None:
    """Runs first in each solver process: ignore Ctrl-C (the server handles it), exit when
    the server is gone, and load the solver stack before the first job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s [solver %(process)d] %(message)s")
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    warm_up()


def warm_up() -> None:
    """Solve a two-site instance once, so that the first job does not pay for loading the
    solver stack (Pyomo's compiler, HiGHS)."""
    from reshore.api.schemas import EXAMPLE_INSTANCE
    from reshore.optimizer.schema import parse_network
    from reshore.optimizer.solve import solve

    try:
        solve(parse_network(EXAMPLE_INSTANCE))
    except Exception:
        log.exception("warm-up solve failed")


def _warm() -> int:
    return os.getpid()


class LocalExecutor:
    """A pool of solver processes inside the server, one job per process at a time."""

    name = "local"

    def __init__(self, settings: Settings, on_change: Callable[[], None]) -> None:
        self.settings = settings
        self.size = settings.workers
        self.config = job_config(settings)
        self.on_change = on_change
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._inflight: dict[Future[str], str] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.size, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_process, initargs=(os.getpid(), self.settings.log_level))

    def start(self) -> None:
        with self._lock:
            self._pool = self._new_pool()
            for _ in range(self.size):
                self._pool.submit(_warm)
        log.info("local executor: %d solver process(es)", self.size)

    def stop(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            inflight = list(self._inflight.values())
        if pool is None:
            return
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
        if inflight:
            self._lost(inflight, "the server shut down")

    def free_slots(self) -> int:
        with self._lock:
            return 0 if self._pool is None else self.size - len(self._inflight)

    def submit(self, job_id: str) -> None:
        with self._lock:
            if self._pool is None:
                raise RuntimeError("the executor is stopped")
            future = self._pool.submit(run_job, job_id, self.config)
            self._inflight[future] = job_id
        future.add_done_callback(self._done)

    def _done(self, future: Future[str]) -> None:
        with self._lock:
            job_id = self._inflight.pop(future, None)
        broken = False
        if not future.cancelled() and future.exception() is not None:
            error = future.exception()
            broken = isinstance(error, BrokenProcessPool)
            log.error("job %s: its solver process failed: %r", job_id, error)
            if job_id is not None:
                self._lost([job_id], f"its solver process died ({error!r})")
        if broken:
            self._replace_broken_pool()
        self.on_change()

    def _replace_broken_pool(self) -> None:
        with self._lock:
            if self._pool is None:
                return
            old, self._pool = self._pool, self._new_pool()
            orphans = list(self._inflight.values())
            self._inflight.clear()
        old.shutdown(wait=False, cancel_futures=True)
        log.warning("local executor: a solver process died; the pool was replaced")
        if orphans:
            self._lost(orphans, "a solver process of the pool died")

    def _lost(self, job_ids: list[str], reason: str) -> None:
        try:
            with db.session_scope(self.settings.database_url) as session:
                store.undispatch(session, job_ids)
                for job_id in job_ids:
                    job = session.scalar(select(Job).where(Job.id == job_id))
                    if job is not None and job.status == "running":
                        line = store.lost(session, job_id, job.attempts,
                                          self.settings.max_attempts, reason)
                        if line:
                            log.warning(line)
        except Exception:
            log.exception("could not record lost jobs %s", job_ids)

    def check(self) -> str:
        with self._lock:
            return "ok" if self._pool is not None else "stopped"


class CeleryExecutor:
    """Jobs go to Celery workers through the broker; the store stays the source of truth."""

    name = "celery"

    def __init__(self, settings: Settings) -> None:
        from reshore.api.worker import make_celery

        self.settings = settings
        self.app = make_celery(settings)

    def start(self) -> None:
        log.info("celery executor: broker %s, queue %s", _safe_url(self.settings.broker_url),
                 self.settings.queue)

    def stop(self) -> None:
        self.app.close()

    def free_slots(self) -> int:
        return 1000

    def submit(self, job_id: str) -> None:
        from reshore.api.worker import TASK_NAME

        self.app.send_task(TASK_NAME, args=[job_id], queue=self.settings.queue)

    def check(self) -> str:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as error:
            return f"broker unreachable: {error}"
        return "ok"


def _safe_url(url: str) -> str:
    """The URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def make_executor(settings: Settings, on_change: Callable[[], None]) -> Executor:
    if settings.executor == "celery":
        return CeleryExecutor(settings)
    return LocalExecutor(settings, on_change)
