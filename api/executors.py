"""Where jobs run: `local` (supervised solver processes inside the server) or `celery`
(remote workers).

Both run `api.jobs.run_job`. The dispatcher (`api.dispatcher`) decides which queued jobs are
handed out; an executor only needs to say how many more it can take and to start one.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import resource
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from sqlalchemy import select

from reshore.api import db, store
from reshore.api.config import Settings
from reshore.api.jobs import (
    JobConfig,
    cancel_overdue_reason,
    memory_reason,
    overtime_reason,
    run_job,
)
from reshore.api.models import Job, JobStatus

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

    def owns(self, worker: str) -> bool:
        """True when `worker` (host:pid) is one of this executor's processes, whose losses
        the executor records itself, with their reason."""
        ...


def job_config(settings: Settings) -> JobConfig:
    return JobConfig(database_url=settings.database_url, heartbeat_s=settings.heartbeat_s,
                     job_threads=settings.job_threads, memory_mb=settings.job_memory_mb,
                     grace_s=settings.job_grace_s, cancel_grace_s=settings.cancel_grace_s)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)  # the server died: stop solving for nobody


M_ARENA_MAX = -8
"""glibc's mallopt parameter for the number of malloc arenas."""


def limit_memory(memory_mb: int) -> None:
    """Cap this process's address space at `memory_mb` MiB (RLIMIT_AS): an allocation past it
    fails in this process (MemoryError) instead of the machine's OOM killer choosing a victim.
    Fewer malloc arenas keep threads from reserving address space they never use."""
    if memory_mb <= 0:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def warm_up() -> None:
    """Load the solver stack (Pyomo, HiGHS) before the first job, so that the job does not pay
    for it. HiGHS itself is not run: a solve fixes its thread pool for the life of the process,
    and the job's own `threads` must be the first."""
    import pyomo.environ  # noqa: F401

    import reshore.optimizer.solve  # noqa: F401


def solver_process(conn: Connection, parent: int, level: str, config: JobConfig,
                   jobs: int) -> None:
    """The life of one solver process: load the solver, then say ready and run the job it is
    given, `jobs` times at most, and exit.

    It ignores SIGINT and SIGTERM (the server decides when it stops) and exits when the
    server is gone."""
    import highspy

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    limit_memory(config.memory_mb)
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s [solver %(process)d] %(message)s")
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    warm_up()
    for _ in range(jobs):
        conn.send(("ready",))
        try:
            message = conn.recv()
        except EOFError:
            return
        job_id = message[1]

        def claimed(attempt: int, time_limit_s: float, job_id: str = job_id) -> None:
            conn.send(("claimed", job_id, attempt, time_limit_s))

        # HiGHS keeps the thread pool of its first solve: start afresh for this job's threads
        highspy.Highs.resetGlobalScheduler(True)
        try:
            status = run_job(job_id, config, on_claimed=claimed)
        except MemoryError:  # so short of memory that the job could not even be failed
            os._exit(EXIT_OUT_OF_MEMORY)
        conn.send(("done", job_id, status))


EXIT_OUT_OF_MEMORY = 75
"""Exit status of a solver process that ran out of its memory limit while failing its job."""


def death_reason(exitcode: int | None, memory_mb: int) -> str:
    """Why a solver process ended, in words."""
    if exitcode is None:
        return "its solver process stopped answering"
    if exitcode == EXIT_OUT_OF_MEMORY:
        return memory_reason(memory_mb)
    if exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if number == signal.SIGKILL:
            return "solver process killed (signal 9), probably out of memory"
        if number in (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS):
            limit = f" (the limit is {memory_mb:,} MiB per job)" if memory_mb > 0 else ""
            return (f"solver process died ({name}, signal {number}), probably out of"
                    f" memory{limit}")
        return f"solver process killed ({name}, signal {number})"
    return f"solver process exited with status {exitcode} before the job finished"


def record_solver_death(settings: Settings, job_id: str, attempt: int | None,
                        exitcode: int | None) -> None:
    """The job of a solver process that died, given its reason (`death_reason`): failed when
    the process ran out of its memory limit (a new run would need the same memory), otherwise
    queued again with its attempt counted (failed after `max_attempts`). `attempt` is the run
    the process held (None: the run the store holds, if the job is running)."""
    reason = death_reason(exitcode, settings.job_memory_mb)
    log.error("job %s: %s", job_id, reason)
    try:
        with db.session_scope(settings.database_url) as session:
            store.undispatch(session, [job_id])
            if attempt is None:
                attempt = session.scalar(select(Job.attempts).where(
                    Job.id == job_id, Job.status == JobStatus.RUNNING))
            if attempt is None:
                return
            if exitcode == EXIT_OUT_OF_MEMORY:
                store.end_run(session, job_id, attempt, JobStatus.FAILED, reason)
                return
            line = store.lost(session, job_id, attempt, settings.max_attempts, reason)
            if line:
                log.warning(line)
    except Exception:
        log.exception("job %s: could not record why its solver process ended", job_id)


def drain_reason(who: str, grace_s: float) -> str:
    """Why a job was stopped by a shutdown (SIGTERM) of `who` ("the server", "worker w1")."""
    return f"{who} shut down; the job did not finish within the drain grace of {grace_s:g} s"


def requeue_interrupted(database_url: str, job_id: str, attempt: int | None,
                        reason: str) -> None:
    """A run stopped by a shutdown, through no fault of the job: the job is queued again and
    handed out afresh, its attempt not counted, the reason in its log."""
    try:
        with db.session_scope(database_url) as session:
            if attempt is not None:
                store.requeue_uncounted(session, job_id, attempt, reason)
            store.undispatch(session, [job_id])
        log.warning("job %s: %s; queued again without counting the attempt", job_id, reason)
    except Exception:
        log.exception("job %s: could not queue it again", job_id)


@dataclass
class _Slot:
    """One solver process and the job it was given."""

    process: BaseProcess
    conn: Connection
    ready: bool = False
    started_once: bool = False
    job_id: str | None = None
    attempt: int | None = None
    claimed_at: float | None = None
    time_limit_s: float = 0.0
    cancel_seen_at: float | None = None
    ended: bool = False  # the supervisor stopped it and recorded why

    def free(self) -> None:
        self.job_id, self.attempt, self.claimed_at, self.cancel_seen_at = None, None, None, None


class LocalExecutor:
    """Solver processes inside the server, supervised, one job per process at a time.

    Each slot holds a process that loads the solver and runs the jobs it is given, one after
    the other (`jobs_per_process` at most, then a fresh one takes its place). A process that
    dies (killed, out of memory, crashed) costs only its own job a run, recorded with the
    reason, and is replaced; the other slots keep running. A job still running `job_grace_s`
    after its time limit (stuck building or handing the model over) or `cancel_grace_s` after
    a cancel is stopped by ending its process."""

    name = "local"

    def __init__(self, settings: Settings, on_change: Callable[[], None]) -> None:
        self.settings = settings
        self.size = settings.workers
        self.config = job_config(settings)
        self.on_change = on_change
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._slots: list[_Slot | None] = [None] * self.size
        self._stopping = threading.Event()
        self._draining = False
        self._early_deaths = 0
        self._last_death = ""
        self._spawned: set[int] = set()
        self._wake_r, self._wake_w = self._context.Pipe(duplex=False)
        self._thread = threading.Thread(target=self._supervise, name="solver-supervisor",
                                        daemon=True)

    # --- the executor protocol --------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            for index in range(self.size):
                self._slots[index] = self._spawn()
        self._thread.start()
        log.info("local executor: %d solver process(es), %s MiB each", self.size,
                 self.settings.job_memory_mb or "unlimited")

    def free_slots(self) -> int:
        with self._lock:
            if self._draining or self._stopping.is_set():
                return 0
            return sum(1 for slot in self._slots if slot is not None and slot.ready
                       and slot.process.is_alive())

    def submit(self, job_id: str) -> None:
        with self._lock:
            if self._draining or self._stopping.is_set():
                raise RuntimeError("the executor is shutting down")
            for slot in self._slots:
                if slot is not None and slot.ready and slot.process.is_alive():
                    slot.conn.send(("run", job_id))
                    slot.ready, slot.job_id = False, job_id
                    return
        raise RuntimeError("no idle solver process")

    def check(self) -> str:
        with self._lock:
            if self._stopping.is_set() or self._draining:
                return "shutting down: no new jobs are started"
            alive = sum(1 for slot in self._slots
                        if slot is not None and slot.process.is_alive())
            if alive == 0:
                return "no solver process is running"
            if self._early_deaths >= EARLY_DEATHS_UNREADY:
                return f"solver processes die before they are ready ({self._last_death})"
        return "ok"

    def stop(self) -> None:
        """Drain: start nothing new, give running jobs `drain_grace_s` to finish, then end
        their processes and queue their jobs again without counting the attempt."""
        with self._lock:
            self._draining = True
            busy = [slot.job_id for slot in self._slots if slot is not None and slot.job_id]
        if busy:
            log.info("shutting down: waiting up to %g s for %d running job(s)",
                     self.settings.drain_grace_s, len(busy))
        deadline = time.monotonic() + self.settings.drain_grace_s
        while time.monotonic() < deadline and self._busy():
            time.sleep(0.1)
        self._stopping.set()
        self._poke()
        self._thread.join(timeout=10)
        with self._lock:
            slots = [slot for slot in self._slots if slot is not None]
            self._slots = [None] * self.size
        for slot in slots:
            if slot.process.is_alive():
                slot.process.kill()
        for slot in slots:
            slot.process.join(timeout=5)
            if slot.job_id is not None and not slot.ended:
                self._interrupted(slot)

    def owns(self, worker: str) -> bool:
        host, _, pid = worker.rpartition(":")
        return host == socket.gethostname() and pid.isdigit() and int(pid) in self._spawned

    # --- supervision ------------------------------------------------------------------------

    def _spawn(self) -> _Slot:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=solver_process, name="reshore-solver", daemon=True,
            args=(child_end, os.getpid(), self.settings.log_level, self.config,
                  self.settings.jobs_per_process))
        process.start()
        child_end.close()
        if process.pid is not None:
            self._spawned.add(process.pid)
        return _Slot(process=process, conn=parent_end)

    def _poke(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(None)

    def _busy(self) -> bool:
        with self._lock:
            return any(slot is not None and slot.job_id is not None
                       and slot.process.is_alive() for slot in self._slots)

    def _supervise(self) -> None:
        last_cancel_check = 0.0
        while not self._stopping.is_set():
            with self._lock:
                slots = [slot for slot in self._slots if slot is not None]
            waitables: list[Any] = [self._wake_r]
            for slot in slots:
                waitables.extend((slot.conn, slot.process.sentinel))
            try:
                ready = wait(waitables, timeout=0.5)
            except OSError:
                ready = []
            if self._wake_r in ready:
                with contextlib.suppress(EOFError, OSError):
                    while self._wake_r.poll():
                        self._wake_r.recv()
            if self._stopping.is_set():
                break
            try:
                changed = self._read_messages(slots)
                changed |= self._replace_dead()
                changed |= self._enforce_deadlines()
                if time.monotonic() - last_cancel_check >= self.settings.heartbeat_s:
                    last_cancel_check = time.monotonic()
                    changed |= self._enforce_cancels()
            except Exception:
                log.exception("solver supervisor pass failed; trying again")
                changed = True
            if changed:
                self.on_change()

    def _read_messages(self, slots: list[_Slot]) -> bool:
        changed = False
        for slot in slots:
            try:
                while slot.conn.poll():
                    message = slot.conn.recv()
                    changed |= self._on_message(slot, message)
            except (EOFError, OSError):
                continue
        return changed

    def _on_message(self, slot: _Slot, message: tuple[Any, ...]) -> bool:
        kind = message[0]
        with self._lock:
            if kind == "ready":
                slot.ready = slot.started_once = True
                self._early_deaths = 0
                return True
            if kind == "claimed" and message[1] == slot.job_id:
                slot.attempt, slot.time_limit_s = int(message[2]), float(message[3])
                slot.claimed_at = time.monotonic()
                return False
            if kind != "done" or message[1] != slot.job_id:
                return False
            slot.free()
        if message[2] == "skipped":  # not claimed (cancelled, taken, or the store failed)
            self._undispatch(message[1])
        return True

    def _undispatch(self, job_id: str) -> None:
        try:
            with db.session_scope(self.settings.database_url) as session:
                store.undispatch(session, [job_id])
        except Exception:
            log.exception("job %s: could not be handed out again", job_id)

    def _replace_dead(self) -> bool:
        changed = False
        for index in range(self.size):
            with self._lock:
                slot = self._slots[index]
                if slot is None or slot.process.is_alive() or self._draining:
                    continue
            slot.process.join(timeout=1)
            self._read_messages([slot])  # a 'done' sent just before exiting
            if not slot.started_once and slot.process.exitcode != 0:
                with self._lock:
                    self._early_deaths += 1
                    self._last_death = death_reason(slot.process.exitcode,
                                                     self.config.memory_mb)
                log.error("a solver process died before it was ready: %s", self._last_death)
            if slot.job_id is not None and not slot.ended:
                record_solver_death(self.settings, slot.job_id, slot.attempt,
                                    slot.process.exitcode)
            slot.conn.close()
            with self._lock:
                if self._draining or self._stopping.is_set():
                    continue
                if self._early_deaths >= EARLY_DEATHS_UNREADY:
                    time.sleep(1.0)  # do not spin on a process that cannot start
                self._slots[index] = self._spawn()
            changed = True
        return changed

    def _enforce_deadlines(self) -> bool:
        now = time.monotonic()
        changed = False
        for slot in self._running():
            assert slot.claimed_at is not None and slot.job_id and slot.attempt is not None
            allowed = slot.time_limit_s + self.settings.job_grace_s
            if now - slot.claimed_at <= allowed:
                continue
            self._end(slot, JobStatus.FAILED, overtime_reason(
                now - slot.claimed_at, slot.time_limit_s, self.settings.job_grace_s))
            changed = True
        return changed

    def _enforce_cancels(self) -> bool:
        running = self._running()
        if not running:
            return False
        ids = [slot.job_id for slot in running]
        with db.session_scope(self.settings.database_url) as session:
            asked = set(session.scalars(select(Job.id).where(
                Job.id.in_(ids), Job.cancel_requested.is_(True))))
        now = time.monotonic()
        changed = False
        for slot in running:
            if slot.job_id not in asked:
                continue
            if slot.cancel_seen_at is None:
                slot.cancel_seen_at = now
            elif now - slot.cancel_seen_at > self.settings.cancel_grace_s:
                self._end(slot, JobStatus.CANCELLED,
                          cancel_overdue_reason(self.settings.cancel_grace_s))
                changed = True
        return changed

    def _running(self) -> list[_Slot]:
        with self._lock:
            return [slot for slot in self._slots
                    if slot is not None and slot.job_id is not None
                    and not slot.ended and slot.claimed_at is not None
                    and slot.process.is_alive()]

    def _end(self, slot: _Slot, status: str, reason: str) -> None:
        """Kill a slot's process and give its job a final status (the dead process is then
        replaced like any other)."""
        slot.ended = True
        slot.process.kill()
        slot.process.join(timeout=5)
        assert slot.job_id is not None and slot.attempt is not None
        log.warning("job %s: %s", slot.job_id, reason)
        try:
            with db.session_scope(self.settings.database_url) as session:
                store.end_run(session, slot.job_id, slot.attempt, status, reason)
        except Exception:
            log.exception("job %s: could not record why it was stopped", slot.job_id)

    def _interrupted(self, slot: _Slot) -> None:
        """A job whose process the shutdown ended: queued again, the attempt not counted."""
        assert slot.job_id is not None
        requeue_interrupted(self.settings.database_url, slot.job_id, slot.attempt,
                            drain_reason("the server", self.settings.drain_grace_s))


EARLY_DEATHS_UNREADY = 3
"""Solver processes dying before they are ready, in a row, after which readiness fails."""


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

    def owns(self, worker: str) -> bool:
        return False

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
