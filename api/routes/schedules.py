"""Schedules: replan a stored dataset on a cron schedule (see `api.scheduler`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from reshore.api import store
from reshore.api.deps import SessionDep, TenantDep
from reshore.api.models import Job, as_utc, utcnow
from reshore.api.scheduler import (
    Schedule,
    ScheduleError,
    ScheduleRun,
    check_cron,
    new_schedule,
    next_tick,
    record_paused_ticks,
    zone,
)
from reshore.api.schemas import JobState, PlanState, Problem, WebhookUrl

router = APIRouter(prefix="/schedules", tags=["schedules"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such schedule for this tenant"}}


class ScheduleOptions(BaseModel):
    """How each run replans."""

    model_config = ConfigDict(extra="forbid")

    now: str | None = Field(None, min_length=1, max_length=200, description="`now` of the"
                            " first replan (default: the second period)")
    advance_periods: int = Field(1, ge=0, le=10_000, description="periods `now` moves on"
                                 " from one replan to the next")
    freeze: int = Field(0, ge=0, le=10_000, description="periods from `now` whose flows keep"
                        " the previous plan")
    change_penalty: float | dict[str, float] = Field(
        0.0, description="price per unit moved beyond the frozen window: one value, or per"
        " table (sourcing, production, shipments)")
    time_limit_s: float | None = Field(None, gt=0, le=1e7, description="solver time limit")
    mip_gap: float | None = Field(None, ge=0, le=1, description="relative MIP gap")


class ScheduleCreate(BaseModel):
    """A schedule of replans of one dataset."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "dataset_id": "ds_0123456789abcdef", "cron": "0 6 * * MON", "timezone": "Europe/Berlin",
        "options": {"now": "2027Q2", "freeze": 1, "change_penalty": 200}}]})

    dataset_id: str = Field(min_length=1, max_length=40, description="the dataset to plan")
    cron: str = Field(min_length=1, max_length=200, description="cron expression: five"
                      " fields, or six with seconds last")
    timezone: str = Field("UTC", min_length=1, max_length=64,
                          description="IANA time zone the cron expression is read in")
    options: ScheduleOptions = Field(default_factory=ScheduleOptions)
    webhook_url: WebhookUrl | None = None


class ScheduleChange(BaseModel):
    """Pause, resume or change a schedule; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    paused: bool | None = Field(None, description="true pauses, false resumes")
    cron: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = Field(None, min_length=1, max_length=64)
    options: ScheduleOptions | None = None
    webhook_url: WebhookUrl | None = None


class ScheduleView(BaseModel):
    id: str
    dataset_id: str
    cron: str
    timezone: str
    options: ScheduleOptions
    webhook_url: str | None
    paused: bool
    created_at: datetime
    updated_at: datetime
    next_tick_at: datetime | None = Field(description="the next tick (none while paused)")


class SchedulePage(BaseModel):
    items: list[ScheduleView]


class ScheduleRunView(BaseModel):
    tick_at: datetime = Field(description="the cron tick, UTC")
    status: str = Field(description="submitted (a job was queued) or skipped")
    reason: str | None = Field(description="why skipped, or why it ran late")
    kind: str | None = Field(description="solve (first run) or replan")
    job_id: str | None
    job_status: JobState | None
    plan_status: PlanState | None
    dataset_version: int | None = Field(description="the dataset version solved")
    previous_job_id: str | None = Field(description="the run's previous plan (replans)")
    now: str | None = Field(description="the replan's `now`")


class ScheduleRunPage(BaseModel):
    items: list[ScheduleRunView] = Field(description="runs, newest tick first")


def _invalid(field: str, message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
        "loc": ["body", field], "msg": message, "type": "value_error"}])


def _checked(cron: str | None, timezone: str | None) -> None:
    try:
        if cron is not None:
            check_cron(cron)
        if timezone is not None:
            zone(timezone)
    except ScheduleError as error:
        field, _, message = str(error).partition(": ")
        raise _invalid(field, message) from None


def view(schedule: Schedule) -> ScheduleView:
    now = utcnow()
    return ScheduleView(
        id=schedule.id, dataset_id=schedule.dataset_id, cron=schedule.cron,
        timezone=schedule.timezone,
        options=ScheduleOptions.model_validate_json(schedule.options),
        webhook_url=schedule.webhook_url, paused=schedule.paused,
        created_at=as_utc(schedule.created_at) or schedule.created_at,
        updated_at=as_utc(schedule.updated_at) or schedule.updated_at,
        next_tick_at=None if schedule.paused else next_tick(schedule, now))


def _schedule(session: Session, tenant: str, schedule_id: str) -> Schedule:
    found = session.scalar(select(Schedule).where(Schedule.id == schedule_id,
                                                  Schedule.tenant == tenant))
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no schedule {schedule_id}")
    return found


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ScheduleView,
             responses={422: {"model": Problem, "description": "bad cron, zone or dataset"}})
def create_schedule(body: ScheduleCreate, session: SessionDep, tenant: TenantDep,
                    response: Response) -> ScheduleView:
    """Start replanning a dataset on a cron schedule; the first tick after now runs first."""
    _checked(body.cron, body.timezone)
    if store.find_dataset(session, tenant, body.dataset_id) is None:
        raise _invalid("dataset_id", "no such dataset")
    schedule = new_schedule(tenant, body.dataset_id, body.cron, body.timezone,
                            body.options.model_dump(mode="json"), body.webhook_url)
    session.add(schedule)
    session.flush()
    response.headers["Location"] = f"/v1/schedules/{schedule.id}"
    return view(schedule)


@router.get("", response_model=SchedulePage)
def list_schedules(session: SessionDep, tenant: TenantDep) -> SchedulePage:
    """The tenant's schedules, newest first."""
    found = session.scalars(select(Schedule).where(Schedule.tenant == tenant)
                            .order_by(Schedule.created_at.desc()))
    return SchedulePage(items=[view(s) for s in found])


@router.get("/{schedule_id}", response_model=ScheduleView, responses=NOT_FOUND)
def get_schedule(schedule_id: str, session: SessionDep, tenant: TenantDep) -> ScheduleView:
    return view(_schedule(session, tenant, schedule_id))


@router.patch("/{schedule_id}", response_model=ScheduleView, responses=NOT_FOUND)
def change_schedule(schedule_id: str, body: ScheduleChange, session: SessionDep,
                    tenant: TenantDep) -> ScheduleView:
    """Pause (`paused: true`), resume (`paused: false`) or change the cron, zone, options or
    webhook. A new cron or zone counts its ticks from now on."""
    schedule = _schedule(session, tenant, schedule_id)
    _checked(body.cron, body.timezone)
    now = utcnow()
    if body.paused is False and schedule.paused:
        record_paused_ticks(session, schedule, now)
    if body.paused is not None:
        schedule.paused = body.paused
    if (body.cron is not None and body.cron != schedule.cron) or (
            body.timezone is not None and body.timezone != schedule.timezone):
        schedule.cron = body.cron or schedule.cron
        schedule.timezone = body.timezone or schedule.timezone
        schedule.considered_from = now
    if body.options is not None:
        schedule.options = json.dumps(body.options.model_dump(mode="json"))
    if "webhook_url" in body.model_fields_set:
        schedule.webhook_url = body.webhook_url
    schedule.updated_at = now
    session.flush()
    return view(schedule)


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_schedule(schedule_id: str, session: SessionDep, tenant: TenantDep) -> Response:
    """Stop and forget the schedule and its runs (its jobs and plans stay)."""
    schedule = _schedule(session, tenant, schedule_id)
    session.query(ScheduleRun).filter(ScheduleRun.schedule_id == schedule.id).delete()
    session.delete(schedule)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{schedule_id}/runs", response_model=ScheduleRunPage, responses=NOT_FOUND)
def list_runs(schedule_id: str, session: SessionDep, tenant: TenantDep,
              limit: Annotated[int, Query(ge=1, le=1000, description="runs at most")] = 100
              ) -> ScheduleRunPage:
    """The schedule's runs, newest tick first: submitted and skipped ticks alike."""
    schedule = _schedule(session, tenant, schedule_id)
    rows = session.execute(
        select(ScheduleRun, Job.status, Job.plan_status)
        .outerjoin(Job, Job.id == ScheduleRun.job_id)
        .where(ScheduleRun.schedule_id == schedule.id)
        .order_by(ScheduleRun.tick_at.desc()).limit(limit)).all()
    return ScheduleRunPage(items=[ScheduleRunView(
        tick_at=as_utc(run.tick_at) or run.tick_at, status=run.status, reason=run.reason,
        kind=run.kind, job_id=run.job_id, job_status=job_status, plan_status=plan_status,
        dataset_version=run.dataset_version, previous_job_id=run.previous_job_id,
        now=run.now_period) for run, job_status, plan_status in rows])
