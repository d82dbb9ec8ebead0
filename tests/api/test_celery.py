"""The scale-out path for real: `reshore serve --executor celery`, a Redis broker and two
`reshore worker` processes sharing one queue, over PostgreSQL when it is reachable: a worker
killed, a solver process killed (kill -9), a worker drained by SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from reshore.api import db
from reshore.api.spread import CeleryScenarioHelpers
from reshore.data.synthetic import generate
from reshore.optimizer.solve.spread import Answer, ScenarioBound
from tests.api.support import (
    REDIS_URL,
    Server,
    Worker,
    checked_result,
    finished,
    flagship,
    job_row,
    long_job,
    many_periods,
    new_key,
    postgres_database,
    postgres_reachable,
    redis_reachable,
    require,
    wait_for,
)
from tests.conftest import solve_checked
from tests.instances import two_site_transport
from tests.test_by_scenario import BY_SCENARIO, PLAIN

STARTED = re.compile(r"^run (\d+) started on (\S+)$", re.MULTILINE)


@dataclass
class Cluster:
    server: Server
    workers: list[Worker]
    client: httpx.Client
    database_url: str
    settings: dict[str, object]
    folder: Path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require("Redis", redis_reachable)
    folder = tmp_path_factory.mktemp("celery")
    try:
        postgres_reachable()
        use_postgres = True
    except Exception:
        if os.environ.get("RESHORE_REQUIRE_SERVICES") == "1":
            raise
        use_postgres = False
    with _database(folder, use_postgres) as url:
        settings = {"executor": "celery", "broker_url": REDIS_URL,
                    "queue": f"reshore.test.{uuid.uuid4().hex[:8]}", "heartbeat_s": 0.5,
                    # the lease outlasts a Celery worker's noticing a dead pool process
                    # (about 5 s, more under load), which records the true reason first
                    "job_lease_s": 15, "dispatch_interval_s": 0.2, "max_time_limit_s": 300,
                    "cancel_grace_s": 1, "max_model_nonzeros": 10**9, "drain_grace_s": 1}
        db.migrate(url)
        server = Server(url, folder / "server.log", **settings).start()
        workers = [Worker(url, folder / f"worker{i}.log", f"w{i}@%h", **settings).start()
                   for i in (1, 2)]
        client = server.client(new_key(url, "acme"))
        try:
            yield Cluster(server, workers, client, url, settings, folder)
        finally:
            client.close()
            for worker in workers:
                worker.stop()
            server.stop()


def _database(folder: Path, use_postgres: bool) -> AbstractContextManager[str]:
    if use_postgres:
        return postgres_database(f"reshore_test_celery_{os.getpid()}")
    return nullcontext(f"sqlite:///{folder / 'reshore.db'}")


def starts(client: httpx.Client, job_id: str) -> list[tuple[int, str]]:
    log = client.get(f"/v1/jobs/{job_id}/log").text
    return [(int(attempt), worker) for attempt, worker in STARTED.findall(log)]


def wait_for_log(client: httpx.Client, job_id: str, line: str, timeout: float) -> str:
    """The job's log once it holds `line` (polled every 50 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        log = client.get(f"/v1/jobs/{job_id}/log").text
        if line in log:
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not log {line!r} in {timeout} s: {log}")
        time.sleep(0.05)


def test_a_job_runs_on_a_worker(cluster: Cluster) -> None:
    job = cluster.client.post("/v1/jobs", json={"instance": two_site_transport()}).json()
    done = finished(cluster.client, job["id"], timeout=90)
    assert done["status"] == "succeeded", done
    assert checked_result(cluster.client, job["id"])["summary"]["objective"] == (
        pytest.approx(290))


def test_two_workers_share_the_queue(cluster: Cluster) -> None:
    jobs = [cluster.client.post("/v1/jobs", json={
        "instance": flagship(), "options": {"time_limit_s": 2}}).json()["id"] for _ in range(2)]
    for job_id in jobs:
        assert finished(cluster.client, job_id, timeout=90)["status"] == "succeeded"
    workers = {starts(cluster.client, job_id)[0][1] for job_id in jobs}
    assert len(workers) == 2, workers


def test_a_worker_killed_mid_solve_does_not_lose_the_job(cluster: Cluster) -> None:
    job_id = cluster.client.post("/v1/jobs", json={
        "instance": flagship(), "options": {"time_limit_s": 3}}).json()["id"]
    wait_for(cluster.client, job_id, lambda v: bool(starts(cluster.client, job_id)),
             timeout=60)
    (_, holder), = starts(cluster.client, job_id)
    pid = int(holder.rpartition(":")[2])
    victim = next(w for w in cluster.workers
                  if w.process is not None and os.getpgid(pid) == w.process.pid)
    victim.kill()

    done = finished(cluster.client, job_id, timeout=120)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    runs = starts(cluster.client, job_id)
    assert [attempt for attempt, _ in runs] == [1, 2]
    assert runs[0][1] != runs[1][1]
    assert "queued again" in cluster.client.get(f"/v1/jobs/{job_id}/log").text
    if done["plan_status"] in ("optimal", "feasible"):
        checked_result(cluster.client, job_id)


LONG_SOLVE_S = 20
"""The time limit of a long job (`support.long_job`): it runs until then."""


def _planned(done: dict[str, Any]) -> bool:
    """The job ended at its time limit with a plan (whose check `checked_result` asserts)."""
    return done["status"] == "succeeded" and done["plan_status"] in ("optimal", "feasible")


def _two_live_workers(cluster: Cluster) -> None:
    """Start workers until two are running and ready (an earlier test may have killed one)."""
    alive = [w for w in cluster.workers if w.process is not None and w.process.poll() is None]
    for number in range(len(cluster.workers) + 1, len(cluster.workers) + 3 - len(alive)):
        worker = Worker(cluster.database_url, cluster.folder / f"worker{number}.log",
                        f"w{number}@%h", **cluster.settings).start()
        cluster.workers.append(worker)
        worker.wait_ready()


def _started(cluster: Cluster, job_id: str) -> None:
    wait_for(cluster.client, job_id, lambda v: bool(starts(cluster.client, job_id)),
             timeout=60)


def _holder(cluster: Cluster, job_id: str) -> tuple[int, Worker]:
    """The solver process running the job's latest run, and the worker it belongs to."""
    (_, holder) = starts(cluster.client, job_id)[-1]
    pid = int(holder.rpartition(":")[2])
    worker = next(w for w in cluster.workers
                  if w.process is not None and w.process.poll() is None
                  and os.getpgid(pid) == w.process.pid)
    return pid, worker


def test_a_solver_process_killed_costs_only_its_own_job_a_run(cluster: Cluster) -> None:
    """kill -9 of the pool process solving one job (as the OOM killer would): that job's run is
    recorded with the signal, and it runs again (its attempt counted); the job solving on the
    other worker meanwhile keeps its first run."""
    _two_live_workers(cluster)
    victim, bystander = (
        cluster.client.post("/v1/jobs", json=long_job(LONG_SOLVE_S)).json()["id"]
        for _ in range(2))
    for job_id in (victim, bystander):
        _started(cluster, job_id)
    pid, worker = _holder(cluster, victim)
    assert _holder(cluster, bystander)[1] is not worker
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    again = wait_for(cluster.client, victim, lambda v: v["attempts"] == 2, timeout=60)
    print(f"solver process killed: its job ran again after"
          f" {time.monotonic() - killed_at:.2f} s")
    assert again["status"] in ("queued", "running"), again
    log = cluster.client.get(f"/v1/jobs/{victim}/log").text
    assert "run 1 lost (solver process killed (signal 9), probably out of memory)" in log, log

    beside = finished(cluster.client, bystander, timeout=120)
    assert beside["status"] == "succeeded" and beside["attempts"] == 1, beside
    done = finished(cluster.client, victim, timeout=120)
    assert done["status"] == "succeeded" and done["attempts"] == 2, done
    for job_id in (bystander, victim):
        assert _planned(cluster.client.get(f"/v1/jobs/{job_id}").json())
        checked_result(cluster.client, job_id)


def test_sigterm_drains_a_worker_and_requeues_without_using_an_attempt(
        cluster: Cluster) -> None:
    """SIGTERM to a worker's main process mid-solve: it takes no new job, gives the solve
    `drain_grace_s` (1 s here), then queues the job again with its attempt given back and the
    reason in its log, ends the solve and exits; a restarted worker (or the other one) runs
    the job to the end on attempt 1."""
    _two_live_workers(cluster)
    job_id = cluster.client.post("/v1/jobs", json=long_job(LONG_SOLVE_S)).json()["id"]
    _started(cluster, job_id)
    _pid, worker = _holder(cluster, job_id)
    before = job_row(cluster.database_url, job_id)
    assert before["status"] == "running" and before["attempts"] == 1, before
    assert worker.process is not None
    signalled = time.monotonic()
    worker.terminate()
    requeued = None
    while time.monotonic() - signalled < 30:
        if "the attempt is not counted" in cluster.client.get(f"/v1/jobs/{job_id}/log").text:
            requeued = time.monotonic() - signalled
            break
        time.sleep(0.05)
    assert requeued is not None, cluster.client.get(f"/v1/jobs/{job_id}/log").text
    exit_status = worker.process.wait(timeout=60)
    exited = time.monotonic() - signalled
    _two_live_workers(cluster)  # the drained worker's replacement

    done = finished(cluster.client, job_id, timeout=120)
    print(f"SIGTERM drain: queued again {requeued:.2f} s after SIGTERM (grace 1 s), worker"
          f" exited with {exit_status} after {exited:.2f} s; attempts {before['attempts']}"
          f" before, {done['attempts']} after")
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 1
    log = cluster.client.get(f"/v1/jobs/{job_id}/log").text
    assert (f"run 1 interrupted (worker {worker.name.replace('%h', '')}") in log, log
    assert "shut down; the job did not finish within the drain grace of 1 s" in log
    assert [attempt for attempt, _ in starts(cluster.client, job_id)] == [1, 1]
    assert exit_status == 0
    assert _planned(done)
    checked_result(cluster.client, job_id)


def test_sigterm_lets_a_job_finish_within_the_drain_grace(cluster: Cluster) -> None:
    """The only worker, given 60 s of drain grace, gets SIGTERM mid-solve: the job finishes on
    its first run and is stored, then the worker exits."""
    for worker in cluster.workers:
        worker.stop()
    patient = Worker(cluster.database_url, cluster.folder / "patient.log", "patient@%h",
                     **{**cluster.settings, "drain_grace_s": 60}).start().wait_ready()
    cluster.workers.append(patient)
    job_id = cluster.client.post("/v1/jobs", json=long_job(LONG_SOLVE_S)).json()["id"]
    _started(cluster, job_id)
    assert patient.process is not None
    signalled = time.monotonic()
    patient.terminate()
    exit_status = patient.process.wait(timeout=90)
    done = finished(cluster.client, job_id, timeout=30)
    print(f"SIGTERM with 60 s of grace: the job {done['status']} on run {done['attempts']},"
          f" the worker exited {time.monotonic() - signalled:.2f} s after SIGTERM")
    assert exit_status == 0
    assert done["status"] == "succeeded" and done["attempts"] == 1, done
    assert "interrupted" not in cluster.client.get(f"/v1/jobs/{job_id}/log").text
    assert _planned(done)
    checked_result(cluster.client, job_id)


def test_a_cancel_stops_a_job_while_a_worker_builds_it(cluster: Cluster) -> None:
    """4,000 periods (8 million nonzeros) take seconds to build and hand to HiGHS, and neither
    looks at the stop flag: cancelled once the build has begun, the job gets its final status
    from its watchdog 1 s after the cancel was seen, and the solver process is ended, which
    Celery replaces; the next job runs."""
    _two_live_workers(cluster)
    job_id = cluster.client.post("/v1/jobs", json={
        "instance": many_periods(4000), "options": {"time_limit_s": 300}}).json()["id"]
    log = wait_for_log(cluster.client, job_id, "prepared the network", timeout=60)
    assert "built the model" not in log, log
    assert cluster.client.delete(f"/v1/jobs/{job_id}").status_code == 202
    done = finished(cluster.client, job_id, timeout=60)
    assert done["status"] == "cancelled", done
    assert "did not stop within 1 s" in cluster.client.get(f"/v1/jobs/{job_id}/log").text
    after = cluster.client.post("/v1/jobs", json={"instance": two_site_transport()}).json()
    assert finished(cluster.client, after["id"], timeout=90)["status"] == "succeeded"
    checked_result(cluster.client, after["id"])


class PatientHelpers(CeleryScenarioHelpers):
    """The workers as helpers, with the solve waiting (up to 60 s each) until a worker took
    an offered scenario before it tries to take it itself, and until the worker answered
    before it would solve that scenario itself too: on a small instance the solve would
    otherwise often get there first (`tests/test_by_scenario` covers those races)."""

    def take(self, scenario: str) -> bool:
        self._wait_for(scenario, "taken")
        return super().take(scenario)

    def answer(self, scenario: str) -> tuple[Answer, ScenarioBound | None]:
        self._wait_for(scenario, "answer")
        return super().answer(scenario)

    def _wait_for(self, scenario: str, part: str) -> None:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            deadline = time.monotonic() + 60
            while client.get(self._key(scenario, part)) is None:
                assert time.monotonic() < deadline, f"no worker set {part} for {scenario}"
                time.sleep(0.05)
        finally:
            client.close()


def test_a_solve_spreads_its_scenarios_over_the_workers(cluster: Cluster) -> None:
    """A solve in this process whose relaxation goes one scenario at a time offers its
    scenarios to the cluster's workers (as a job on a worker does): the workers solve the
    ones they take, their names in the log, and the plan is the plain MIP's optimum."""
    _two_live_workers(cluster)
    network = generate("S", 1)
    helpers = PatientHelpers.on_queue(REDIS_URL, str(cluster.settings["queue"]))
    try:
        plan = solve_checked(network, replace(BY_SCENARIO, concurrent_relaxation=False,
                                              scenario_helpers=helpers))
    finally:
        helpers.close()
    bounds = [line for line in plan.log if line.startswith("LP relaxation by scenario:")]
    print("\n".join(bounds))
    assert len(bounds) == len(network.scenarios)
    helped = [line for line in bounds if ", solved by " in line]
    assert len(helped) == len(network.scenarios) - 1, bounds
    pids = {w.process.pid for w in cluster.workers if w.process is not None}
    for line in helped:
        pid = int(line.rpartition(":")[2].rstrip(")"))
        assert os.getpgid(pid) in pids, line
    plain = solve_checked(network, PLAIN)
    assert plan.objective == pytest.approx(plain.objective, rel=1e-7)
