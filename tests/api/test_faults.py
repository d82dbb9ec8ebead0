"""Faults surfaced, not hidden: a store that refuses writes answers 503 and turns readiness
off; a corrupt store stops start-up with one line; a job whose outcome the store refuses is
failed, never left running; job logs and errors carry no tracebacks; failed authentication
is rate limited per client; a chunked oversized body is 413; `threads` is checked against the
worker's cores; a plan that fails the independent check fails its job."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reshore.api import db, store
from reshore.api.jobs import check_failure, job_status
from reshore.optimizer.check import check
from reshore.optimizer.schema import parse_network
from reshore.optimizer.solve import SolveOptions, solve
from tests.api.support import (
    POSTGRES_URL,
    ROOT,
    Server,
    checked_result,
    finished,
    new_key,
    postgres_database,
    postgres_reachable,
    require,
    service_env,
)
from tests.instances import two_site_transport

SETTINGS = {"workers": 1, "heartbeat_s": 0.5, "dispatch_interval_s": 0.2}


def _admin(sql: str) -> None:
    import psycopg

    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql)


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[str]:
    require("PostgreSQL", postgres_reachable)
    name = f"reshore_test_faults_{os.getpid()}"
    with postgres_database(name) as url:
        db.migrate(url)
        yield url


def _read_only(name: str, on: bool) -> None:
    _admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')
    _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
           " AND pid <> pg_backend_pid()")


def test_a_store_refusing_writes_answers_503_and_turns_readiness_off(
        postgres: str, tmp_path: Path) -> None:
    name = postgres.rpartition("/")[2]
    token = new_key(postgres, "acme")
    server = Server(postgres, tmp_path / "server.log", **SETTINGS).start()
    try:
        with server.client(token) as client:
            _read_only(name, True)
            answer = client.post("/v1/jobs", json={"instance": two_site_transport()})
            assert answer.status_code == 503, answer.text
            assert "read-only" in answer.json()["detail"]
            assert "INSERT" not in answer.json()["detail"] or "Traceback" not in answer.text
            ready = httpx.get(f"{server.url}/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"].startswith("not writable")
            _read_only(name, False)
            assert httpx.get(f"{server.url}/readyz").status_code == 200
            job = client.post("/v1/jobs", json={"instance": two_site_transport()}).json()
            assert finished(client, job["id"])["status"] == "succeeded"
    finally:
        _read_only(name, False)
        server.stop()


@pytest.mark.parametrize("kind", ["corrupt", "unreadable"])
def test_a_store_that_cannot_be_opened_stops_start_up_with_one_line(
        tmp_path: Path, kind: str) -> None:
    path = tmp_path / "reshore.db"
    if kind == "corrupt":
        path.write_bytes(b"this is not a database" * 100)
    else:
        path.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "reshore.api.cli", "serve", "--port", "9"], cwd=ROOT,
        env=service_env(f"sqlite:///{path}"), capture_output=True, text=True, timeout=60,
        check=False)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: the job store") and "cannot be used" in lines[0]
    assert "Traceback" not in done.stderr


def test_an_outcome_the_store_refuses_fails_the_job_instead_of_wedging_it(
        postgres: str, tmp_path: Path) -> None:
    """A NUL in an id (put in the store directly, past the API's validation): PostgreSQL
    refuses NUL in text. The job ends, failed with a reason, on its first run."""
    instance = two_site_transport()
    instance["sites"][0]["site"] = "A\x00"
    for tier in instance["site_tiers"]:
        tier["site"] = tier["site"].replace("A", "A\x00")
    for lane in instance["lanes"]:
        lane["origin"] = lane["origin"].replace("A", "A\x00")
    token = new_key(postgres, "acme")
    with db.session_scope(postgres) as session:
        store.store_instance(session, "n" * 64, instance)
        job, _ = store.create_job(session, store.NewJob(
            tenant="acme", instance_hash="n" * 64, options={}, time_limit_s=30,
            estimated_variables=20))
        job_id = job.id
    server = Server(postgres, tmp_path / "server.log", job_lease_s=600, **SETTINGS).start()
    try:
        with server.client(token) as client:
            done = finished(client, job_id, timeout=60)
            assert done["status"] == "failed" and done["attempts"] == 1, done
            assert done["error"]
            assert "Traceback" not in client.get(f"/v1/jobs/{job_id}/log").text
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("faults")
    url = f"sqlite:///{folder / 'reshore.db'}"
    db.migrate(url)
    running = Server(url, folder / "server.log", max_job_threads=2, max_body_bytes=100_000,
                     **SETTINGS).start()
    yield running
    running.stop()


def test_failed_authentication_is_rate_limited_per_client(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reshore.db'}"
    token = new_key(url, "acme")
    server = Server(url, tmp_path / "server.log", auth_failures_per_minute=5,
                    **SETTINGS).start()
    try:
        with httpx.Client(base_url=server.url,
                          headers={"Authorization": "Bearer rsk_x_y"}) as bad:
            codes = [bad.get("/v1/jobs").status_code for _ in range(7)]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
        limited = httpx.get(f"{server.url}/v1/jobs",
                            headers={"Authorization": f"Bearer {token}"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    finally:
        server.stop()


def test_a_chunked_body_over_the_limit_is_413(server: Server, tmp_path: Path) -> None:
    token = new_key(server.database_url, "chunks")

    def chunks() -> Iterator[bytes]:
        yield b'{"instance": {"settings": {"periods": ["'
        for _ in range(50):
            yield b"x" * 10_000

    answer = httpx.post(f"{server.url}/v1/jobs", content=chunks(),
                        headers={"Authorization": f"Bearer {token}",
                                 "content-type": "application/json"})
    assert answer.status_code == 413, answer.text
    assert "100,000 bytes" in answer.json()["detail"]


def test_threads_are_checked_in_the_options_and_in_the_instance(server: Server) -> None:
    token = new_key(server.database_url, "threads")
    with server.client(token) as client:
        asked = client.post("/v1/jobs", json={"instance": two_site_transport(),
                                              "options": {"threads": 3}})
        assert asked.status_code == 422
        assert asked.json()["detail"][0]["loc"] == ["body", "options", "threads"]
        inside = two_site_transport()
        inside["settings"]["solver"] = {"threads": 64}  # within the contract, beyond the worker
        hidden = client.post("/v1/jobs", json={"instance": inside})
        assert hidden.status_code == 422
        assert hidden.json()["detail"][0]["loc"][-2:] == ["solver", "threads"]
        assert "between 1 and 2" in hidden.json()["detail"][0]["msg"]
        inside["settings"]["solver"] = {"threads": 100000}  # beyond the contract's own range
        absurd = client.post("/v1/jobs", json={"instance": inside})
        assert absurd.status_code == 422
        assert "solver.threads" in absurd.text
        two = client.post("/v1/jobs", json={"instance": two_site_transport(),
                                            "options": {"threads": 2}})
        assert two.status_code == 202
        assert finished(client, two.json()["id"])["status"] == "succeeded"
        # the same solver process, another thread count: HiGHS's pool is set afresh per job
        one = client.post("/v1/jobs", json={"instance": two_site_transport(),
                                            "options": {"threads": 1}}).json()["id"]
        assert finished(client, one)["plan_status"] == "optimal"
        assert checked_result(client, one)["summary"]["objective"] == pytest.approx(290)


def test_a_plan_failing_the_independent_check_fails_its_job() -> None:
    """The plan of two_site_transport (A opens, 60 units to each customer), checked against
    the same network with X wanting 90: the check finds the unserved demand, and the job's
    status is failed with that finding."""
    plan = solve(parse_network(two_site_transport()), SolveOptions(time_limit_s=30))
    network = parse_network(two_site_transport())
    assert job_status(plan, check(network, plan), False) == "succeeded"
    wanting_more = two_site_transport()
    wanting_more["demand"][0]["quantity"] = 90
    report = check(parse_network(wanting_more), plan)
    assert not report.ok
    assert job_status(plan, report, False) == "failed"
    assert check_failure(report).startswith("the plan failed the independent check: ")
    assert str(report.violations[0]) in check_failure(report)
