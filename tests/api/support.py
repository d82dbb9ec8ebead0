"""Helpers of the API tests: real server and worker processes, keys, services, polling."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from reshore.api import db, security
from reshore.data import flagship_path
from reshore.optimizer.io import read_raw_tables

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("succeeded", "failed", "cancelled")
REDIS_URL = os.environ.get("RESHORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("RESHORE_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def require(service: str, reachable: Callable[[], None]) -> None:
    """Skip when `service` is unreachable, or fail when RESHORE_REQUIRE_SERVICES=1 (CI)."""
    try:
        reachable()
    except Exception as error:
        reason = f"{service} is not reachable: {type(error).__name__}: {error}"
        if os.environ.get("RESHORE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (RESHORE_REQUIRE_SERVICES=1)")
        pytest.skip(reason)


def redis_reachable() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def postgres_reachable() -> None:
    import psycopg

    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, connect_timeout=3) as connection:
        connection.execute("SELECT 1")


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database (dropped afterwards); its SQLAlchemy URL."""
    import psycopg

    admin = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    url = f"{base}/{name}"
    try:
        yield url
    finally:
        db.dispose_all()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_key(database_url: str, tenant: str) -> str:
    db.migrate(database_url)
    with db.session_scope(database_url) as session:
        return security.create_key(session, tenant).token


def service_env(database_url: str, **settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESHORE_")}
    env["RESHORE_DATABASE_URL"] = database_url
    env.update({f"RESHORE_{k.upper()}": str(v) for k, v in settings.items()})
    env["PYTHONPATH"] = str(ROOT)
    return env



def stop_group(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM a process group started with start_new_session, SIGKILL it after 15 s."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

class Server:
    """`reshore serve` in its own process on a free port."""

    def __init__(self, database_url: str, log: Path, **settings: Any) -> None:
        self.database_url, self.log, self.settings = database_url, log, settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Server:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "reshore.api.cli", "serve", "--host", "127.0.0.1", "--port",
                 str(self.port)], cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                env=service_env(self.database_url, **self.settings), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not become ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the server alone, as a crash would (its solver processes notice)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def crash(self) -> None:
        """SIGKILL the server and its solver processes at once, as a machine dying would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        stop_group(self.process)

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {token}"})


class Worker:
    """`reshore worker` (Celery) in its own process group."""

    def __init__(self, database_url: str, log: Path, name: str, **settings: Any) -> None:
        self.database_url, self.log, self.name, self.settings = (database_url, log, name,
                                                                 settings)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "reshore.api.cli", "worker", "--concurrency", "1", "--name",
                 self.name], cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                env=service_env(self.database_url, **self.settings), start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 90) -> Worker:
        """Wait until Celery says the worker is ready (consuming its queue)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the worker exited:\n{self.log.read_text()[-3000:]}")
            if " ready." in self.log.read_text(errors="replace"):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"the worker did not become ready:\n{self.log.read_text()[-3000:]}")

    def terminate(self) -> None:
        """SIGTERM the worker's main process alone, as an orchestrator stopping it would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the worker and its solver processes, as a machine dying would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        stop_group(self.process)


def wait_for(client: httpx.Client, job_id: str, done: Callable[[dict[str, Any]], bool],
             timeout: float = 60, every: float = 0.1) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if done(view):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not get there in {timeout} s: {view}")
        time.sleep(every)


def finished(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    return wait_for(client, job_id, lambda v: v["status"] in FINAL, timeout)


def running(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    return wait_for(client, job_id, lambda v: v["status"] == "running", timeout)


def checked_result(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """The plan, asserting the independent checker passed on it."""
    response = client.get(f"/v1/jobs/{job_id}/result")
    assert response.status_code == 200, response.text
    plan: dict[str, Any] = response.json()
    assert plan["check"]["ok"] is True, plan["check"]
    return plan


_long_instance: dict[str, Any] = {}


def long_job(time_limit_s: float) -> dict[str, Any]:
    """A job body that runs until its time limit, however fast the machine: synthetic M
    (59,500 variables) asked for a gap of 0, which it does not prove within minutes; its plan
    comes from the start phases within seconds."""
    if not _long_instance:
        from reshore.data.synthetic import generate

        _long_instance.update(generate("M", seed=0).to_tables())
    return {"instance": json.loads(json.dumps(_long_instance)),
            "options": {"time_limit_s": time_limit_s, "mip_gap": 0}}


_flagship: dict[str, Any] = {}


def flagship() -> dict[str, Any]:
    """The flagship dataset in JSON form (a job that runs for a while)."""
    if not _flagship:
        _flagship.update(json.loads(json.dumps(read_raw_tables(flagship_path()))))
    copy: dict[str, Any] = json.loads(json.dumps(_flagship))
    return copy


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid` (from /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(x) for x in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children_of(current))
    return tree


def rss_kib(pid: int) -> int:
    """Resident memory of one process in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def solver_processes(server_pid: int) -> list[int]:
    """The solver processes of a local-executor server (spawned children running
    `multiprocessing.spawn`, not its resource tracker)."""
    found = []
    for pid in children_of(server_pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"multiprocessing.spawn" in command and b"resource_tracker" not in command \
                and not _zombie(pid):
            found.append(pid)
    return found


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


class TreeMemory:
    """Samples the resident memory of a process tree (from /proc) every 50 ms in a thread;
    `peak_mib` of the whole tree and `peak_root_mib` of the root process alone."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid = pid
        self.peak_kib = 0
        self.peak_root_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib,
                                sum(rss_kib(pid) for pid in process_tree(self.pid)))
            self.peak_root_kib = max(self.peak_root_kib, rss_kib(self.pid))
            self._stop.wait(0.05)

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024

    @property
    def peak_root_mib(self) -> float:
        return self.peak_root_kib / 1024


def job_row(database_url: str, job_id: str) -> dict[str, Any]:
    """A job's row as the store holds it (worker, attempts, status, message, error)."""
    from sqlalchemy import select

    from reshore.api.models import Job

    with db.session_scope(database_url) as session:
        job = session.scalar(select(Job).where(Job.id == job_id))
        assert job is not None
        return {"status": job.status, "attempts": job.attempts, "worker": job.worker,
                "message": job.message, "error": job.error}


def many_periods(periods: int) -> dict[str, Any]:
    """One site, one customer, one demand row, `periods` periods: a tiny upload whose
    cumulative-capacity rows grow with the square of the periods."""
    return {"settings": {"periods": [f"P{t}" for t in range(periods)]},
            "sites": [{"site": "A", "country": "US"}],
            "site_tiers": [{"site": "A", "tier": "std", "capacity_hours": 200,
                            "opening_cost": 50}],
            "products": [{"product": "rack", "assembly_hours": 1}],
            "customers": [{"customer": "X", "country": "US"}],
            "demand": [{"customer": "X", "product": "rack", "period": "P0", "quantity": 60}],
            "lanes": [{"origin": "A", "destination": "X", "cost_per_unit": 1}]}
