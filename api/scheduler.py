"""Scheduled replans: schedules, their runs, and the thread that fires due ticks.

A schedule names a dataset, a cron expression (croniter: five fields, or six with seconds
last) read in a time zone, and replan options. Each tick of the cron expression is one run:

- the first run solves the dataset's newest version from scratch; each later run replans the
  newest version against the plan of the schedule's newest successful run, with `now`
  moving `advance_periods` periods on from the previous replan's (the first replan uses the
  schedule's `now`);
- **exactly once**: a run is a row of `schedule_runs`, unique on (schedule, tick time); a
  server inserts it and the job it submits in one transaction, and a tick whose row another
  server inserted first is left alone (insert-or-skip). A server that dies before committing
  leaves no row, so the next pass of any server fires the tick: never lost, never doubled;
- **missed ticks** (no server was running, or the schedule was paused): when a pass finds
  several ticks due, the latest one runs and every earlier one is recorded as `skipped`, with
  the reason. None is skipped silently;
- the time comes from an injectable clock (`Scheduler(clock=...)`, `fire_due(now=...)`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from reshore.api import db, store
from reshore.api.figures import CHILD_LIMITS, ChildLimits, FiguresError, recorded_figures
from reshore.api.models import Base, Job, JobStatus, as_utc, utcnow

log = logging.getLogger("reshore.scheduler")

MAX_TICKS_PER_PASS = 10_000
"""Ticks looked at per schedule and pass; a longer gap records the oldest ones first and
the next pass goes on."""


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    options: Mapped[str] = mapped_column(Text, default="{}")
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    considered_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """Ticks after this moment are the schedule's (reset when the cron or zone changes)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScheduleRun(Base):
    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "tick_at",
                                       name="uq_schedule_runs_tick"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[str] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"),
                                             index=True)
    tick_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    """submitted (a job was queued) or skipped."""
    reason: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(16))
    """solve or replan."""
    job_id: Mapped[str | None] = mapped_column(String(40), index=True)
    dataset_version: Mapped[int | None] = mapped_column(Integer)
    previous_job_id: Mapped[str | None] = mapped_column(String(40))
    now_period: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used (the message says which)."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"timezone: unknown time zone '{name}'") from None


def check_cron(expression: str) -> None:
    """A cron expression that croniter reads and that has a next tick."""
    if not croniter.is_valid(expression):
        raise ScheduleError(f"cron: '{expression}' is not a cron expression (five fields,"
                            " or six with seconds last)")
    try:
        croniter(expression, utcnow()).get_next(datetime)
    except CroniterBadDateError:
        raise ScheduleError(f"cron: '{expression}' never ticks (no such date)") from None


def due_ticks(schedule: Schedule, after: datetime, now: datetime,
              limit: int = MAX_TICKS_PER_PASS) -> list[datetime]:
    """The schedule's ticks in (after, now], in UTC, oldest first."""
    local = as_utc(after)
    assert local is not None
    ticks = croniter(schedule.cron, local.astimezone(zone(schedule.timezone)))
    found: list[datetime] = []
    while len(found) < limit:
        tick = ticks.get_next(datetime)
        if tick > now:
            break
        found.append(tick.astimezone(now.tzinfo))
    return found


@dataclass(frozen=True)
class RunPlan:
    """What the run of one tick submits."""

    kind: str
    previous_job_id: str | None
    now_period: str | None


def last_tick(session: Session, schedule: Schedule) -> datetime:
    latest = session.scalar(select(ScheduleRun.tick_at).where(
        ScheduleRun.schedule_id == schedule.id).order_by(ScheduleRun.tick_at.desc()).limit(1))
    start = as_utc(schedule.considered_from)
    assert start is not None
    latest = as_utc(latest)
    return max(latest, start) if latest is not None else start


def newest_successful_run(session: Session, schedule_id: str) -> ScheduleRun | None:
    """The schedule's newest run whose job succeeded with a plan."""
    return session.scalar(
        select(ScheduleRun).join(Job, Job.id == ScheduleRun.job_id).where(
            ScheduleRun.schedule_id == schedule_id, Job.status == JobStatus.SUCCEEDED,
            Job.plan_status.in_(["optimal", "feasible"]))
        .order_by(ScheduleRun.tick_at.desc()).limit(1))


def plan_run(session: Session, schedule: Schedule, periods: list[str]) -> RunPlan:
    """Solve from scratch when the schedule has no successful run yet; else replan against
    the newest one, `now` moved on from that run's."""
    options = json.loads(schedule.options)
    previous = newest_successful_run(session, schedule.id)
    if previous is None or previous.job_id is None:
        return RunPlan(kind="solve", previous_job_id=None, now_period=None)
    first = options.get("now") or (periods[1] if len(periods) > 1 else periods[0])
    if previous.now_period is None:
        now = first
    else:
        at = periods.index(previous.now_period) if previous.now_period in periods else (
            periods.index(first) if first in periods else 0)
        now = periods[min(at + int(options.get("advance_periods", 1)), len(periods) - 1)]
    return RunPlan(kind="replan", previous_job_id=previous.job_id, now_period=now)


def _insert_run(session: Session, run: ScheduleRun) -> bool:
    """Insert the run unless its tick has one already (another server's); True if inserted."""
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        return False
    return True


def record_skipped(session: Session, schedule: Schedule, tick: datetime, reason: str) -> bool:
    return _insert_run(session, ScheduleRun(schedule_id=schedule.id, tick_at=tick,
                                            status="skipped", reason=reason,
                                            created_at=utcnow()))


def _submit(session: Session, schedule: Schedule, tick: datetime, time_limit_cap: float,
            reason: str | None, hold_s: float = 0.0,
            limits: ChildLimits = CHILD_LIMITS) -> str | None:
    """Insert the tick's run and queue its job, in the caller's transaction; the job id, or
    None when another server had the tick. With `hold_s` the transaction stays open that
    long once both are written (see `hold_tick`). The dataset version is not parsed: its
    recorded figures (`api.figures`) give the periods, the time limit and the size."""
    versions = store.versions_of(session, schedule.dataset_id)
    if not versions:
        record_skipped(session, schedule, tick, "the dataset has no version")
        return None
    version = versions[-1]
    try:
        figures = recorded_figures(session, version, limits)
    except FiguresError as error:
        record_skipped(session, schedule, tick,
                       f"dataset version {version.version} is invalid: {error.reason}")
        return None
    plan = plan_run(session, schedule, list(figures.periods))
    run = ScheduleRun(schedule_id=schedule.id, tick_at=tick, status="submitted",
                      reason=reason, kind=plan.kind, dataset_version=version.version,
                      previous_job_id=plan.previous_job_id, now_period=plan.now_period,
                      created_at=utcnow())
    if not _insert_run(session, run):
        return None
    options = json.loads(schedule.options)
    job_options: dict[str, Any] = {key: options[key] for key in ("mip_gap",)
                                   if options.get(key) is not None}
    if plan.kind == "replan":
        job_options["replan"] = {"previous_job": plan.previous_job_id,
                                 "now": plan.now_period,
                                 "freeze": int(options.get("freeze", 0)),
                                 "change_penalty": options.get("change_penalty", 0.0)}
    if schedule.webhook_url:
        job_options["webhook_url"] = schedule.webhook_url
    asked = options.get("time_limit_s") or figures.time_limit_s
    job, _ = store.create_job(session, store.NewJob(
        tenant=schedule.tenant, instance_hash=version.instance_hash, options=job_options,
        time_limit_s=min(asked or time_limit_cap, time_limit_cap),
        estimated_variables=figures.estimate.variables,
        dataset_id=schedule.dataset_id, dataset_version=version.version,
        warnings=tuple(json.loads(version.warnings))))
    run.job_id = job.id
    session.flush()
    hold_tick(schedule.id, tick, job.id, hold_s)
    return job.id


def hold_tick(schedule_id: str, tick: datetime, job_id: str, hold_s: float) -> None:
    """Keep the tick's transaction open `hold_s` seconds before its commit
    (`schedule_tick_hold_s`, 0 in service): the crash tests kill the server meanwhile, and
    read this log line to know when."""
    if hold_s <= 0:
        return
    log.warning("schedule %s: tick %s wrote run and job %s; holding the transaction %.1f s"
                " before committing", schedule_id, tick.isoformat(), job_id, hold_s)
    time.sleep(hold_s)


def fire_due(database_url: str, now: datetime, time_limit_cap: float,
             tick_hold_s: float = 0.0, limits: ChildLimits = CHILD_LIMITS) -> list[str]:
    """One pass over every schedule at the moment `now`: the latest due tick of each runs
    (unless paused), the earlier ones are recorded as skipped. Returns the queued job ids.
    `tick_hold_s`: see `hold_tick`; `limits` bound the child process computing the figures
    of a dataset version stored before they were recorded."""
    queued: list[str] = []
    with db.session_scope(database_url) as session:
        ids = list(session.scalars(select(Schedule.id)))
    for schedule_id in ids:
        try:
            with db.session_scope(database_url) as session:
                schedule = session.get(Schedule, schedule_id)
                if schedule is None:
                    continue
                ticks = due_ticks(schedule, last_tick(session, schedule), now)
                if not ticks:
                    continue
                if schedule.paused:
                    for tick in ticks:
                        record_skipped(session, schedule, tick, "the schedule was paused")
                    continue
                for tick in ticks[:-1]:
                    record_skipped(session, schedule, tick, "missed (no server was running the"
                          f" schedule); the latest missed tick, {ticks[-1].isoformat()}, ran")
                reason = f"ran late: {len(ticks) - 1} earlier tick(s) skipped" if len(
                    ticks) > 1 else None
                job_id = _submit(session, schedule, ticks[-1], time_limit_cap, reason,
                                 tick_hold_s, limits)
                if job_id is not None:
                    queued.append(job_id)
                    log.info("schedule %s: tick %s queued job %s", schedule.id,
                             ticks[-1].isoformat(), job_id)
        except Exception:
            log.exception("schedule %s: the pass failed; the next pass tries again",
                          schedule_id)
    return queued


def record_paused_ticks(session: Session, schedule: Schedule, now: datetime) -> None:
    """Ticks that fell due while the schedule was paused, recorded as skipped (a resume must
    not run them late)."""
    for tick in due_ticks(schedule, last_tick(session, schedule), now):
        record_skipped(session, schedule, tick, "the schedule was paused")


Clock = Callable[[], datetime]


class Scheduler:
    """A thread of the API server that calls `fire_due` every `interval_s` seconds."""

    def __init__(self, database_url: str, interval_s: float, time_limit_cap: float,
                 on_queued: Callable[[], None], clock: Clock = utcnow,
                 tick_hold_s: float = 0.0, limits: ChildLimits = CHILD_LIMITS) -> None:
        self.database_url, self.interval_s, self.tick_hold_s = (database_url, interval_s,
                                                                 tick_hold_s)
        self.time_limit_cap, self.on_queued, self.clock = time_limit_cap, on_queued, clock
        self.limits = limits
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                if fire_due(self.database_url, self.clock(), self.time_limit_cap,
                            self.tick_hold_s, self.limits):
                    self.on_queued()
            except Exception:
                log.exception("scheduler pass failed; trying again")


def new_schedule(tenant: str, dataset_id: str, cron: str, timezone: str,
                 options: dict[str, Any], webhook_url: str | None,
                 now: datetime | None = None) -> Schedule:
    """A schedule whose ticks start after `now` (validated cron and zone)."""
    check_cron(cron)
    zone(timezone)
    moment = now or utcnow()
    return Schedule(id=store.new_id("sch"), tenant=tenant, dataset_id=dataset_id, cron=cron,
                    timezone=timezone, options=json.dumps(options), webhook_url=webhook_url,
                    paused=False, considered_from=moment, created_at=moment,
                    updated_at=moment)


def next_tick(schedule: Schedule, now: datetime) -> datetime:
    ticks = croniter(schedule.cron, now.astimezone(zone(schedule.timezone)))
    moment: datetime = ticks.get_next(datetime)
    return moment.astimezone(now.tzinfo)

