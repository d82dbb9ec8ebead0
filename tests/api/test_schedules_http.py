"""Schedules and webhooks over HTTP: a real `reshore serve` (the shared SQLite server), and
two real servers over one PostgreSQL database firing every tick once."""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from reshore.api import db
from reshore.api.models import Job
from reshore.api.scheduler import ScheduleRun
from reshore.api.webhooks import SIGNATURE_HEADER, verify
from tests.api.support import (
    Server,
    finished,
    new_key,
    postgres_database,
    postgres_reachable,
    require,
)
from tests.api.test_webhooks import Receiver
from tests.instances import two_site_transport
from tests.test_replan import rolling


def dataset(client: httpx.Client, name: str) -> str:
    response = client.post("/v1/datasets", json={"name": name, "instance": rolling()})
    assert response.status_code == 201, response.text
    dataset_id: str = response.json()["id"]
    return dataset_id


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver([503])
    yield running
    running.close()


def test_schedule_create_read_pause_resume_change_delete(server: Server) -> None:
    with server.client(new_key(server.database_url, "sched-a")) as client, \
            server.client(new_key(server.database_url, "sched-b")) as other:
        data = dataset(client, "rolling-sched")
        bad = client.post("/v1/schedules", json={"dataset_id": data, "cron": "every day"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "cron"]
        zone = client.post("/v1/schedules", json={"dataset_id": data, "cron": "0 6 * * *",
                                                  "timezone": "Mars/Olympus"})
        assert zone.status_code == 422 and "unknown time zone" in zone.text
        foreign = other.post("/v1/schedules", json={"dataset_id": data, "cron": "0 6 * * *"})
        assert foreign.status_code == 422 and "no such dataset" in foreign.text

        created = client.post("/v1/schedules", json={
            "dataset_id": data, "cron": "0 6 * * MON", "timezone": "Europe/Berlin",
            "options": {"now": "P2", "freeze": 1, "change_penalty": 0.5}})
        assert created.status_code == 201, created.text
        schedule = created.json()
        assert schedule["next_tick_at"] is not None and not schedule["paused"]
        path = f"/v1/schedules/{schedule['id']}"
        assert other.get(path).status_code == 404
        assert [s["id"] for s in client.get("/v1/schedules").json()["items"]] == [
            schedule["id"]]
        paused = client.patch(path, json={"paused": True}).json()
        assert paused["paused"] and paused["next_tick_at"] is None
        resumed = client.patch(path, json={"paused": False, "cron": "30 7 * * *"}).json()
        assert not resumed["paused"] and resumed["cron"] == "30 7 * * *"
        assert client.get(f"{path}/runs").json() == {"items": []}
        assert other.delete(path).status_code == 404
        assert client.delete(path).status_code == 204
        assert client.get(path).status_code == 404


def test_job_webhook_over_http_is_signed_retried_and_listed(server: Server,
                                                            receiver: Receiver) -> None:
    with server.client(new_key(server.database_url, "hooks-a")) as client:
        secret = client.get("/v1/webhooks/secret").json()
        assert secret["header"] == SIGNATURE_HEADER
        response = client.post("/v1/jobs", json={"instance": two_site_transport(), "options": {
            "webhook_url": receiver.url}})
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert finished(client, job_id)["status"] == "succeeded"
        deadline = time.monotonic() + 60
        while len(client.get(f"/v1/jobs/{job_id}/webhooks").json()["items"]) < 2:
            assert time.monotonic() < deadline, "the webhook was not retried"
            time.sleep(0.1)
        attempts = client.get(f"/v1/jobs/{job_id}/webhooks").json()["items"]
        assert [(a["attempt"], a["status_code"], a["delivered"]) for a in attempts] == [
            (1, 503, False), (2, 200, True)]
        headers, body = receiver.received[-1]
        assert verify(secret["secret"], body, headers[SIGNATURE_HEADER])
        assert json.loads(body)["job"]["id"] == job_id


def test_two_servers_over_one_postgres_fire_each_tick_once(tmp_path: Path) -> None:
    """A schedule ticking every 2 s, two servers scanning it every 0.2 s: every tick has one
    run and at most one job, and no tick between the first and the last is missing."""
    require("PostgreSQL", postgres_reachable)
    with postgres_database(f"reshore_test_schedules_{os.getpid()}") as url:
        token = new_key(url, "twin")
        settings = {"workers": 1, "schedule_interval_s": 0.2, "dispatch_interval_s": 0.2,
                    "heartbeat_s": 0.5}
        first = Server(url, tmp_path / "a.log", **settings).start()
        second = Server(url, tmp_path / "b.log", **settings).start()
        try:
            with first.client(token) as client:
                data = dataset(client, "twin")
                created = client.post("/v1/schedules", json={
                    "dataset_id": data, "cron": "* * * * * */2",
                    "options": {"now": "P2", "time_limit_s": 30}})
                assert created.status_code == 201, created.text
                runs_path = f"/v1/schedules/{created.json()['id']}/runs"
                deadline = time.monotonic() + 120
                while len(_items(client.get(runs_path))) < 6:
                    assert time.monotonic() < deadline, "the schedule did not tick"
                    time.sleep(0.2)
        finally:
            first.stop()
            second.stop()
        with db.session_scope(url) as session:
            runs = list(session.scalars(select(ScheduleRun).order_by(ScheduleRun.tick_at)))
            jobs = list(session.scalars(select(Job)))
        ticks = [r.tick_at for r in runs]
        assert len(ticks) == len(set(ticks))
        steps = {(b - a).total_seconds() for a, b in itertools.pairwise(ticks)}
        assert steps == {2.0}, steps
        submitted = [r.job_id for r in runs if r.status == "submitted"]
        assert len(submitted) == len(set(submitted)) == len(jobs)
        assert {j.id for j in jobs} == set(submitted)
        assert all(j.dataset_version == 1 for j in jobs)
        logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
        assert "Traceback" not in logs


def test_dataset_version_from_a_change_list(server: Server) -> None:
    """A change list in the what-if variants format, applied to the latest version: demand
    in P3 x 3 (50 -> 150) makes version 2; bad change lists are 422 naming the problem."""
    with server.client(new_key(server.database_url, "changes-a")) as client:
        data = dataset(client, "rolling-changes")
        path = f"/v1/datasets/{data}/versions"
        response = client.post(path, json={"changes": [
            {"table": "demand", "where": {"period": "P3"}, "scale": {"quantity": 3}}],
            "note": "P3 demand x 3"})
        assert response.status_code == 201, response.text
        assert response.json()["latest_version"] == 2
        stored = client.get(f"{path}/2").json()
        assert {row["period"]: row["quantity"] for row in stored["demand"]} == {
            "P1": 50, "P2": 50, "P3": 150, "P4": 50}
        unknown = client.post(path, json={"changes": [
            {"table": "demand", "where": {"region": "east"}, "scale": {"quantity": 2}}]})
        assert unknown.status_code == 422 and "unknown column 'region'" in unknown.text
        nothing = client.post(path, json={"changes": [
            {"table": "demand", "where": {"period": "P9"}, "set": {"quantity": 1}}]})
        assert nothing.status_code == 422 and "matches no row" in nothing.text
        listed = client.post(path, json={"changes": [
            {"table": "demand", "set": {"quantity": [1, 2]}}]})
        assert listed.status_code == 422 and "not a list of values" in listed.text
        both = client.post(path, json={"instance": rolling(), "changes": [
            {"table": "demand", "set": {"quantity": 1}}]})
        assert both.status_code == 422 and "either instance or changes" in both.text
        assert client.get(f"/v1/datasets/{data}").json()["latest_version"] == 2


def _items(answer: httpx.Response) -> list[object]:
    """The items of a list answer; a failed answer fails the test with its body."""
    assert answer.status_code == 200, answer.text
    items: list[object] = answer.json()["items"]
    return items
