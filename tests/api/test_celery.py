"""The scale-out path for real: `reshore serve --executor celery`, a Redis broker and two
`reshore worker` processes sharing one queue, over PostgreSQL when it is reachable."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reshore.api import db
from tests.api.support import (
    REDIS_URL,
    Server,
    Worker,
    checked_result,
    finished,
    flagship,
    many_periods,
    new_key,
    postgres_database,
    postgres_reachable,
    redis_reachable,
    require,
    wait_for,
)
from tests.instances import two_site_transport

STARTED = re.compile(r"^run (\d+) started on (\S+)$", re.MULTILINE)


@dataclass
class Cluster:
    server: Server
    workers: list[Worker]
    client: httpx.Client


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
                    "job_lease_s": 5, "dispatch_interval_s": 0.2, "max_time_limit_s": 300,
                    "cancel_grace_s": 1, "max_model_nonzeros": 10**9}
        db.migrate(url)
        server = Server(url, folder / "server.log", **settings).start()
        workers = [Worker(url, folder / f"worker{i}.log", f"w{i}@%h", **settings).start()
                   for i in (1, 2)]
        client = server.client(new_key(url, "acme"))
        try:
            yield Cluster(server, workers, client)
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


def test_a_cancel_stops_a_job_while_a_worker_builds_it(cluster: Cluster) -> None:
    """3,000 periods take many seconds to build, and building does not look at the stop flag:
    the job's watchdog gives it its final status 1 s after the cancel was seen and ends the
    solver process, which Celery replaces; the next job runs."""
    job_id = cluster.client.post("/v1/jobs", json={
        "instance": many_periods(3000), "options": {"time_limit_s": 300}}).json()["id"]
    wait_for(cluster.client, job_id, lambda v: bool(starts(cluster.client, job_id)),
             timeout=60)
    assert cluster.client.delete(f"/v1/jobs/{job_id}").status_code == 202
    done = finished(cluster.client, job_id, timeout=60)
    assert done["status"] == "cancelled", done
    assert "did not stop within 1 s" in cluster.client.get(f"/v1/jobs/{job_id}/log").text
    after = cluster.client.post("/v1/jobs", json={"instance": two_site_transport()}).json()
    assert finished(cluster.client, after["id"], timeout=90)["status"] == "succeeded"
    checked_result(cluster.client, after["id"])
