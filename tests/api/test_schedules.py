"""Schedules with an injected clock: each tick fires once, missed ticks follow the policy,
later runs replan against the newest successful run, paused ticks are recorded. Jobs run
in this process (`run_job`, a real HiGHS solve and the plan checker) over a SQLite store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import highspy
import pytest
from sqlalchemy import select

from reshore.api import db, store
from reshore.api.jobs import JobConfig, run_job
from reshore.api.models import Job, JobResult
from reshore.api.scheduler import (
    Schedule,
    ScheduleError,
    ScheduleRun,
    check_cron,
    due_ticks,
    fire_due,
    new_schedule,
    record_paused_ticks,
)
from reshore.optimizer.schema import parse_network
from reshore.optimizer.solve import input_hash
from tests.test_replan import rolling

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
"""A Monday, 09:30 UTC (10:30 in Berlin)."""
CAP = 60.0


@pytest.fixture(autouse=True)
def _one_thread_scheduler() -> Iterator[None]:
    """The jobs here run in this process with `job_threads=1`. HiGHS keeps one thread
    scheduler per process, sized by the first solve, and refuses a solve asking for another
    size: a fresh one is made for each test."""
    highspy.Highs.resetThreadScheduler(True)
    yield


def add_version(url: str, tenant: str, instance: dict[str, Any],
                dataset_id: str | None = None) -> str:
    network = parse_network(instance)
    digest = input_hash(network)
    with db.session_scope(url) as session:
        store.store_instance(session, digest, network.to_tables())
        found = store.find_dataset(session, tenant, dataset_id) if dataset_id else None
        dataset = store.add_version(session, tenant, "rolling", digest, {}, "", found)
        return dataset.id


def make_schedule(url: str, tenant: str, dataset_id: str, cron: str = "0 * * * *",
                  **options: Any) -> str:
    with db.session_scope(url) as session:
        schedule = new_schedule(tenant, dataset_id, cron, "Europe/Berlin",
                                {"now": "P2", "freeze": 1, "change_penalty": 0.5, **options},
                                None, now=T0)
        session.add(schedule)
        return schedule.id


def runs(url: str, schedule_id: str) -> list[ScheduleRun]:
    with db.session_scope(url) as session:
        return list(session.scalars(select(ScheduleRun).where(
            ScheduleRun.schedule_id == schedule_id).order_by(ScheduleRun.tick_at)))


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'schedules.db'}"
    db.migrate(database)
    return database


def test_each_tick_fires_once_and_later_runs_replan(url: str) -> None:
    dataset = add_version(url, "acme", rolling())
    schedule = make_schedule(url, "acme", dataset)
    assert fire_due(url, T0 + timedelta(minutes=20), CAP) == []
    first = fire_due(url, T0 + timedelta(minutes=31), CAP)
    assert len(first) == 1
    assert fire_due(url, T0 + timedelta(minutes=45), CAP) == []  # the same tick: not again
    [run] = runs(url, schedule)
    assert (run.kind, run.dataset_version, run.status) == ("solve", 1, "submitted")
    assert run.tick_at.replace(tzinfo=UTC) == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert run_job(first[0], JobConfig(url, job_threads=1)) == "succeeded"

    add_version(url, "acme", rolling((50, 50, 150, 50)), dataset)
    second = fire_due(url, T0 + timedelta(minutes=90), CAP)
    assert len(second) == 1
    assert run_job(second[0], JobConfig(url, job_threads=1)) == "succeeded"
    latest = runs(url, schedule)[-1]
    assert (latest.kind, latest.dataset_version, latest.previous_job_id, latest.now_period) == (
        "replan", 2, first[0], "P2")
    with db.session_scope(url) as session:
        job = session.scalar(select(Job).where(Job.id == second[0]))
        assert job is not None and job.dataset_version == 2
        assert job.best_objective == pytest.approx(3100)  # tests/test_replan.py, by hand
        result = session.get(JobResult, second[0])
        assert result is not None
        document = json.loads(result.plan)
    assert document["check"]["ok"] is True
    assert document["replan"]["previous_job"] == first[0]
    assert document["replan"]["diff"]["tables"]["production"]["units_moved"] == 100

    third = fire_due(url, T0 + timedelta(minutes=150), CAP)
    assert run_job(third[0], JobConfig(url, job_threads=1)) == "succeeded"
    assert runs(url, schedule)[-1].now_period == "P3"  # moved one period on


def test_missed_ticks_run_the_latest_once_and_record_the_others_as_skipped(url: str) -> None:
    """Nothing ran from 09:30 to 14:31 UTC: the hourly ticks 10:00..14:00 are due; 14:00
    runs, 10:00 to 13:00 are recorded as skipped."""
    dataset = add_version(url, "acme", rolling())
    schedule = make_schedule(url, "acme", dataset)
    queued = fire_due(url, T0 + timedelta(hours=5, minutes=1), CAP)
    assert len(queued) == 1
    found = runs(url, schedule)
    assert [(r.tick_at.replace(tzinfo=UTC).hour, r.status) for r in found] == [
        (10, "skipped"), (11, "skipped"), (12, "skipped"), (13, "skipped"), (14, "submitted")]
    assert all("missed" in (r.reason or "") for r in found[:-1])
    assert "4 earlier tick(s) skipped" in (found[-1].reason or "")
    assert fire_due(url, T0 + timedelta(hours=5, minutes=2), CAP) == []


def test_paused_ticks_are_recorded_as_skipped(url: str) -> None:
    dataset = add_version(url, "acme", rolling())
    schedule = make_schedule(url, "acme", dataset)
    with db.session_scope(url) as session:
        found = session.get(Schedule, schedule)
        assert found is not None
        found.paused = True
    assert fire_due(url, T0 + timedelta(minutes=31), CAP) == []
    with db.session_scope(url) as session:
        found = session.get(Schedule, schedule)
        assert found is not None
        record_paused_ticks(session, found, T0 + timedelta(minutes=95))
        found.paused = False
    assert [(r.status, r.reason) for r in runs(url, schedule)] == [
        ("skipped", "the schedule was paused"), ("skipped", "the schedule was paused")]
    assert len(fire_due(url, T0 + timedelta(minutes=151), CAP)) == 1


def test_cron_is_read_in_the_schedule_time_zone() -> None:
    """09:00 every day in Berlin is 08:00 UTC in January and 07:00 UTC in July."""
    schedule = Schedule(cron="0 9 * * *", timezone="Europe/Berlin",
                        considered_from=T0)
    winter = due_ticks(schedule, T0, T0 + timedelta(days=1))
    assert [t.hour for t in winter] == [8]
    summer = datetime(2026, 7, 1, tzinfo=UTC)
    assert [t.hour for t in due_ticks(schedule, summer, summer + timedelta(days=1))] == [7]
    with pytest.raises(ScheduleError, match="cron: 'every day'"):
        check_cron("every day")
    with pytest.raises(ScheduleError, match="never ticks"):
        check_cron("0 0 31 2 *")


def test_a_tick_interrupted_before_its_commit_is_fired_by_the_next_pass(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run row and its job are written in one transaction: a pass that dies after
    inserting the run but before committing leaves nothing, and the next pass (of any
    server) fires the tick, once."""
    dataset = add_version(url, "acme", rolling())
    schedule = make_schedule(url, "acme", dataset)

    def dies(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the server died here")

    with monkeypatch.context() as patched:
        patched.setattr(store, "create_job", dies)
        assert fire_due(url, T0 + timedelta(minutes=31), CAP) == []
    assert runs(url, schedule) == []
    assert len(fire_due(url, T0 + timedelta(minutes=32), CAP)) == 1
    assert fire_due(url, T0 + timedelta(minutes=33), CAP) == []
    [run] = runs(url, schedule)
    assert run.status == "submitted" and run.job_id is not None
