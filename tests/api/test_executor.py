"""The local executor heals and isolates: a dead solver process (idle or busy) is replaced and
costs only its own job a run; SIGTERM drains; a job is bounded in time and memory from its
first byte, building and hand-off included. Against real `reshore serve` processes; memory is
read from /proc."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from reshore.api import db
from tests.api.support import (
    Server,
    TreeMemory,
    checked_result,
    finished,
    job_row,
    long_job,
    many_periods,
    new_key,
    running,
    solver_processes,
    wait_for,
)
from tests.instances import two_site_transport

SETTINGS = {"workers": 2, "heartbeat_s": 0.5, "dispatch_interval_s": 0.2, "job_lease_s": 30,
            "tenant_max_running": 2}


def _server(tmp_path: Path, **settings: object) -> tuple[Server, str]:
    url = f"sqlite:///{tmp_path / 'reshore.db'}"
    db.migrate(url)
    return Server(url, tmp_path / "server.log", **{**SETTINGS, **settings}), url


def _wait_solvers(server: Server, count: int, timeout: float = 60,
                  without: int | None = None) -> list[int]:
    assert server.process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = solver_processes(server.process.pid)
        if len(found) == count and without not in found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"expected {count} solver processes, found {found}")


def _pid(worker: str | None) -> int:
    assert worker is not None
    return int(worker.rpartition(":")[2])


def test_an_idle_solver_process_killed_is_replaced(tmp_path: Path) -> None:
    server, url = _server(tmp_path)
    token = new_key(url, "acme")
    server.start()
    try:
        assert server.process is not None
        first = _wait_solvers(server, 2)
        killed_at = time.monotonic()
        os.kill(first[0], signal.SIGKILL)
        replaced = _wait_solvers(server, 2, without=first[0])
        print(f"idle solver killed: replaced in {time.monotonic() - killed_at:.2f} s")
        assert first[0] not in replaced
        with server.client(token) as client:
            job = client.post("/v1/jobs", json={"instance": two_site_transport()}).json()
            done = finished(client, job["id"])
            assert done["status"] == "succeeded" and done["attempts"] == 1
            assert checked_result(client, job["id"])["summary"]["objective"] == (
                pytest.approx(290))
            assert httpx.get(f"{server.url}/readyz").json()["checks"]["executor"] == "ok"
    finally:
        server.stop()


def test_a_busy_solver_process_killed_costs_only_its_own_job_a_run(tmp_path: Path) -> None:
    """Tenant acme's long job loses its solver process (kill -9, as the OOM killer would);
    tenant other's job, running beside it, keeps running on its first run, and a job of
    tenant other submitted after the kill is solved."""
    server, url = _server(tmp_path, max_attempts=3)
    acme, other = new_key(url, "acme"), new_key(url, "other")
    server.start()
    try:
        with server.client(acme) as a, server.client(other) as b:
            victim = a.post("/v1/jobs", json=long_job(100)).json()["id"]
            bystander = b.post("/v1/jobs", json=long_job(100)).json()["id"]
            running(a, victim)
            running(b, bystander)
            killed_at = time.monotonic()
            os.kill(_pid(job_row(url, victim)["worker"]), signal.SIGKILL)
            again = wait_for(a, victim, lambda v: v["attempts"] == 2, timeout=60)
            print(f"busy solver killed: its job ran again after"
                  f" {time.monotonic() - killed_at:.2f} s")
            assert again["status"] in ("queued", "running")
            log = a.get(f"/v1/jobs/{victim}/log").text
            assert "solver process killed (signal 9), probably out of memory" in log
            beside = b.get(f"/v1/jobs/{bystander}").json()
            assert beside["status"] == "running" and beside["attempts"] == 1, beside
            a.delete(f"/v1/jobs/{victim}")
            assert finished(a, victim)["status"] == "cancelled"
            small = b.post("/v1/jobs", json={"instance": two_site_transport()}).json()["id"]
            assert finished(b, small)["status"] == "succeeded"
            assert checked_result(b, small)["summary"]["objective"] == pytest.approx(290)
            b.delete(f"/v1/jobs/{bystander}")  # or it finished meanwhile: either way, once
            still = finished(b, bystander)
            assert still["status"] in ("succeeded", "cancelled") and still["attempts"] == 1
            if still["status"] == "succeeded":
                checked_result(b, bystander)
    finally:
        server.stop()


def test_sigterm_drains_and_requeues_without_using_an_attempt(tmp_path: Path) -> None:
    server, url = _server(tmp_path, drain_grace_s=1)
    token = new_key(url, "acme")
    server.start()
    with server.client(token) as client:
        job = client.post("/v1/jobs", json=long_job(100)).json()["id"]
        running(client, job)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=60)
    row = job_row(url, job)
    assert row["status"] == "queued" and row["attempts"] == 0, row
    assert "the server shut down" in (row["message"] or "")

    again = Server(url, tmp_path / "server.log", **SETTINGS).start()
    try:
        with again.client(token) as client:
            view = running(client, job)
            assert view["attempts"] == 1
            assert "the attempt is not counted" in client.get(f"/v1/jobs/{job}/log").text
            client.delete(f"/v1/jobs/{job}")
            assert finished(client, job)["status"] == "cancelled"
    finally:
        again.stop()


def test_the_6000_period_upload_is_refused_before_building(tmp_path: Path) -> None:
    """53 KB, one demand row, 6,000 periods: its cumulative-capacity rows would hold
    6000 * 6001 / 2 = 18 million nonzeros, beyond the default limit of 15 million."""
    server, url = _server(tmp_path)
    token = new_key(url, "acme")
    server.start()
    try:
        assert server.process is not None
        with TreeMemory(server.process.pid) as memory, server.client(token) as client:
            started = time.monotonic()
            answer = client.post("/v1/jobs", json={"instance": many_periods(6000)})
            elapsed = time.monotonic() - started
        assert answer.status_code == 413, answer.text
        assert "nonzeros" in answer.json()["detail"]
        assert "square of the periods" in answer.json()["detail"]
        print(f"6000 periods: 413 in {elapsed:.2f} s, tree peak {memory.peak_mib:.0f} MiB")
    finally:
        server.stop()


def test_a_job_stuck_building_is_stopped_at_its_time_limit(tmp_path: Path) -> None:
    """3,000 periods (4.5 million nonzeros) takes far longer than 1 s to build: the job is
    failed once its 1 s time limit plus 1 s of grace have passed, and the process tree stays
    far below what the build would need."""
    server, url = _server(tmp_path, job_grace_s=1, max_model_nonzeros=10**9)
    token = new_key(url, "acme")
    server.start()
    try:
        assert server.process is not None
        with TreeMemory(server.process.pid) as memory, server.client(token) as client:
            job = client.post("/v1/jobs", json={"instance": many_periods(3000),
                                                "options": {"time_limit_s": 1}}).json()["id"]
            done = finished(client, job, timeout=60)
        assert done["status"] == "failed", done
        assert "the time limit of 1 s plus 1 s of grace" in done["error"]
        assert done["attempts"] == 1
        print(f"3000 periods, limit 1 s: failed after {done['progress']['elapsed_s']:.1f} s,"
              f" tree peak {memory.peak_mib:.0f} MiB")
    finally:
        server.stop()


def test_a_cancel_stops_a_job_while_it_builds(tmp_path: Path) -> None:
    server, url = _server(tmp_path, cancel_grace_s=1, max_model_nonzeros=10**9)
    token = new_key(url, "acme")
    server.start()
    try:
        with server.client(token) as client:
            job = client.post("/v1/jobs", json={"instance": many_periods(3000),
                                                "options": {"time_limit_s": 300}}).json()["id"]
            running(client, job)
            assert client.delete(f"/v1/jobs/{job}").status_code == 202
            done = finished(client, job, timeout=60)
        assert done["status"] == "cancelled", done
        print(f"cancel during build: cancelled after {done['progress']['elapsed_s']:.1f} s")
    finally:
        server.stop()


def test_a_job_past_its_memory_limit_fails_with_that_reason(tmp_path: Path) -> None:
    """6,000 periods needs gigabytes to build; with 600 MiB per solver process the build
    fails in its own process, and the server's tree stays near that limit."""
    server, url = _server(tmp_path, job_memory_mb=600, max_model_nonzeros=10**9,
                          max_attempts=1)
    token = new_key(url, "acme")
    server.start()
    try:
        assert server.process is not None
        with TreeMemory(server.process.pid) as memory, server.client(token) as client:
            job = client.post("/v1/jobs", json={"instance": many_periods(6000),
                                                "options": {"time_limit_s": 600}}).json()["id"]
            done = finished(client, job, timeout=120)
        assert done["status"] == "failed", done
        assert "memory" in done["error"], done["error"]
        assert "Traceback" not in client_log(server, token, job)
        print(f"6000 periods, 600 MiB per job: failed after"
              f" {done['progress']['elapsed_s']:.1f} s ({done['error'][:80]}), tree peak"
              f" {memory.peak_mib:.0f} MiB")
    finally:
        server.stop()


def client_log(server: Server, token: str, job: str) -> str:
    with server.client(token) as client:
        return client.get(f"/v1/jobs/{job}/log").text
