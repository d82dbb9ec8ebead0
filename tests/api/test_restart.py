"""Jobs survive a crash of the server: finished ones keep their results, queued ones run, a
running one runs again, and after `max_attempts` lost runs it is failed with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from reshore.api import db
from tests.api.support import Server, checked_result, finished, long_job, new_key, wait_for
from tests.instances import two_site_transport

SETTINGS = {"workers": 1, "heartbeat_s": 0.5, "job_lease_s": 5, "dispatch_interval_s": 0.2,
            "max_attempts": 2, "tenant_max_running": 5}


def test_restart_with_jobs_in_every_state(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reshore.db'}"
    db.migrate(url)
    token = new_key(url, "acme")
    log = tmp_path / "server.log"

    first = Server(url, log, **SETTINGS).start()
    try:
        with first.client(token) as client:
            done = client.post("/v1/jobs", json={"instance": two_site_transport()}).json()["id"]
            assert finished(client, done)["status"] == "succeeded"
            plan_before = checked_result(client, done)
            long = client.post("/v1/jobs", json=long_job(100)).json()["id"]
            wait_for(client, long, lambda v: v["status"] == "running")
            waiting = client.post("/v1/jobs", json={"instance": two_site_transport()}).json()
            dropped = client.post("/v1/jobs", json={"instance": two_site_transport()}).json()
            assert client.delete(f"/v1/jobs/{dropped['id']}").json()["status"] == "cancelled"
            assert client.get(f"/v1/jobs/{waiting['id']}").json()["status"] == "queued"
    finally:
        first.kill()  # a crash: no shutdown, the solver process is left to notice

    second = Server(url, log, **SETTINGS).start()
    try:
        with second.client(token) as client:
            assert client.get(f"/v1/jobs/{done}").json()["status"] == "succeeded"
            assert checked_result(client, done) == plan_before
            again = wait_for(client, long, lambda v: v["attempts"] == 2, timeout=30)
            assert again["status"] == "running"
            assert "queued again" in client.get(f"/v1/jobs/{long}/log").text
            cancelled = client.get(f"/v1/jobs/{dropped['id']}").json()
            assert cancelled["status"] == "cancelled" and cancelled["attempts"] == 0
            # the queued job may have run before the lost run's lease ran out, or wait
            assert client.get(f"/v1/jobs/{waiting['id']}").json()["status"] in (
                "queued", "running", "succeeded")
    finally:
        second.kill()

    third = Server(url, log, **SETTINGS).start()
    try:
        with third.client(token) as client:
            failed = finished(client, long, timeout=30)
            assert failed["status"] == "failed"
            assert "lost 2 time(s)" in failed["error"], failed["error"]
            assert finished(client, waiting["id"])["status"] == "succeeded"
            assert checked_result(client, waiting["id"])["summary"]["objective"] == (
                pytest.approx(290))
            assert client.get(f"/v1/jobs/{dropped['id']}").json()["attempts"] == 0
            listed = client.get("/v1/jobs", params={"status": "running"}).json()["items"]
            assert listed == []
    finally:
        third.stop()
