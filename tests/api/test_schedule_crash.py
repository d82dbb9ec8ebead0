"""A server killed (SIGKILL) in the middle of a tick, over PostgreSQL: the tick is neither
lost nor doubled. The first server holds the tick's transaction open once its run and job
are written (`schedule_tick_hold_s`) and is killed meanwhile; a second server, started over
the same database, fires the tick once, runs its job, and goes on with the next ticks."""

from __future__ import annotations

import itertools
import os
import re
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from reshore.api import db
from reshore.api.models import Job, as_utc
from reshore.api.scheduler import ScheduleRun
from tests.api.support import (
    Server,
    finished,
    new_key,
    postgres_database,
    postgres_reachable,
    require,
)
from tests.api.test_schedules_http import dataset

EVERY_S = 30
"""Seconds between two ticks: time enough for the second server to start before the next."""
HELD = re.compile(r"schedule (\S+): tick (\S+) wrote run and job (\S+); holding the transaction")
SETTINGS = {"workers": 1, "schedule_interval_s": 0.2, "dispatch_interval_s": 0.2,
            "heartbeat_s": 0.5}


def held_tick(log: Path, timeout: float) -> tuple[str, datetime, str]:
    """(schedule, tick, job) of the tick the server holds open, from its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = HELD.search(log.read_text()) if log.exists() else None
        if found:
            return found[1], datetime.fromisoformat(found[2]), found[3]
        time.sleep(0.05)
    raise AssertionError(f"no tick was held in {timeout} s:\n{log.read_text()[-3000:]}")


def runs_and_jobs(url: str) -> tuple[list[ScheduleRun], list[Job]]:
    with db.session_scope(url) as session:
        runs = list(session.scalars(select(ScheduleRun).order_by(ScheduleRun.tick_at)))
        jobs = list(session.scalars(select(Job)))
        session.expunge_all()
    return runs, jobs


def test_a_server_killed_during_a_tick_neither_loses_nor_doubles_it(tmp_path: Path) -> None:
    require("PostgreSQL", postgres_reachable)
    with postgres_database(f"reshore_test_schedule_crash_{os.getpid()}") as url:
        token = new_key(url, "crash")
        first = Server(url, tmp_path / "a.log", schedule_tick_hold_s=300, **SETTINGS).start()
        try:
            with first.client(token) as client:
                created = client.post("/v1/schedules", json={
                    "dataset_id": dataset(client, "crash"), "cron": f"* * * * * */{EVERY_S}",
                    "options": {"now": "P2", "time_limit_s": 30}})
                assert created.status_code == 201, created.text
            schedule, tick, lost_job = held_tick(tmp_path / "a.log", timeout=3 * EVERY_S)
            first.crash()
        finally:
            first.stop()
        assert schedule == created.json()["id"]
        assert runs_and_jobs(url) == ([], [])  # the killed transaction left nothing behind

        second = Server(url, tmp_path / "b.log", **SETTINGS).start()
        try:
            with second.client(token) as client:
                runs_path = f"/v1/schedules/{schedule}/runs"
                deadline = time.monotonic() + 3 * EVERY_S
                while len(client.get(runs_path).json()["items"]) < 2:
                    assert time.monotonic() < deadline, "the second server did not tick"
                    time.sleep(0.2)
                items = client.get(runs_path).json()["items"]
                for run in items:
                    if run["job_id"] is not None:
                        assert finished(client, run["job_id"])["status"] == "succeeded"
        finally:
            second.stop()

        runs, jobs = runs_and_jobs(url)
        ticks = [t for t in (as_utc(r.tick_at) for r in runs) if t is not None]
        assert ticks[0] == tick  # the tick the first server died in ...
        assert (runs[0].status, runs[0].kind, runs[0].reason) == ("submitted", "solve", None)
        assert runs[0].job_id != lost_job  # ... fired once more, by the second server
        assert len(ticks) == len(set(ticks))  # never twice
        steps = {(b - a).total_seconds() for a, b in itertools.pairwise(ticks)}
        assert steps == {float(EVERY_S)}, steps  # none lost after it
        assert all(r.status == "submitted" for r in runs)  # none skipped
        assert sorted(str(r.job_id) for r in runs) == sorted(j.id for j in jobs)
        assert lost_job not in {j.id for j in jobs}
        assert "Traceback" not in (tmp_path / "b.log").read_text()
