"""The service's settings: one class, read from `RESHORE_*` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Every knob of the job service; `RESHORE_<NAME>` sets `<name>`."""

    model_config = SettingsConfigDict(env_prefix="RESHORE_", extra="ignore")

    database_url: str = Field(
        "sqlite:///reshore.db",
        description="SQLAlchemy URL of the job store: a SQLite file by default, or"
        " postgresql+psycopg://user:password@host/db",
    )
    executor: Literal["local", "celery"] = Field(
        "local", description="local: a process pool inside the server; celery: remote workers")
    workers: int = Field(default_factory=_default_workers, ge=1,
                         description="solver processes of the local executor (one job each)")
    broker_url: str = Field("redis://127.0.0.1:6379/0", description="Celery broker URL")
    queue: str = Field("reshore.jobs", description="Celery queue the jobs are sent to")
    spread_scenarios: bool = Field(
        True, description="celery: a job whose LP relaxation goes one scenario at a time"
        " (large models with several scenarios) offers its scenarios to the other workers'"
        " free solver processes, and solves itself those no worker took (Redis brokers"
        " only)")
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024,
                                description="largest request body accepted, in bytes")
    max_model_variables: int = Field(
        3_000_000, ge=1, description="largest model accepted, by the estimate of its variables")
    default_time_limit_s: float = Field(
        600.0, gt=0, description="solver time limit when neither the job nor the instance sets one")
    max_time_limit_s: float = Field(3600.0, gt=0,
                                    description="largest solver time limit a job may ask for")
    job_threads: int | None = Field(
        None, ge=1, description="HiGHS threads per job (default: the instance's setting)")
    max_job_threads: int = Field(
        default_factory=_default_workers, ge=1, description="most HiGHS threads a job may ask"
        " for, in its options or its instance's settings.solver (default: the cores of this"
        " machine; set it to the cores of the workers when they run elsewhere)")
    max_model_nonzeros: int = Field(
        15_000_000, ge=1, description="largest model accepted, by the estimate of its"
        " constraint matrix's nonzeros (what building and solving cost grows with)")
    job_memory_mb: int = Field(
        4096, ge=0, description="address-space limit of each solver process in MiB"
        " (RLIMIT_AS); a job needing more fails with that reason. 0: no limit")
    jobs_per_process: int = Field(
        50, ge=1, description="jobs a solver process of the local executor runs before a fresh"
        " one takes its place (returns the memory a large job left behind)")
    job_grace_s: float = Field(
        60.0, gt=0, description="a job still running this long after its time limit (building"
        " the model or handing it to the solver) is stopped and failed")
    cancel_grace_s: float = Field(
        10.0, gt=0, description="a cancelled job still running this long after the cancel was"
        " seen has its solver process ended")
    drain_grace_s: float = Field(
        20.0, ge=0, description="on shutdown (SIGTERM) of the server or of a Celery worker, how"
        " long running jobs may finish before they are stopped and queued again (without"
        " counting the attempt)")
    max_upload_unpacked_bytes: int = Field(
        128 * 1024 * 1024, ge=1024, description="most bytes an uploaded zip or xlsx may unpack"
        " to (counted while unpacking)")
    max_upload_rows: int = Field(
        200_000, ge=1, description="most data rows of all tables of an upload together")
    max_upload_columns: int = Field(
        64, ge=1, description="most columns of a sheet of an uploaded workbook")
    upload_memory_mb: int = Field(
        1024, ge=0, description="address-space limit of the process reading and validating an"
        " upload, in MiB (0: no limit)")
    upload_time_limit_s: float = Field(
        60.0, gt=0, description="longest an upload may take to read and validate before it is"
        " refused")
    max_errors_shown: int = Field(
        100, ge=1, description="input errors listed in a 422 answer; the rest are counted per"
        " kind")
    auth_failures_per_minute: int = Field(
        20, ge=1, description="failed authentications a client (IP address) may make per"
        " minute; beyond it the client gets 429")
    tenant_max_running: int = Field(
        4, ge=1, description="jobs of one tenant running (or sent to workers) at once; the"
        " others wait in the queue")
    heartbeat_s: float = Field(2.0, gt=0,
                               description="seconds between two heartbeats of a running job")
    job_lease_s: float = Field(
        60.0, gt=0, description="a running job whose heartbeat is older than this is taken to"
        " have lost its worker and is run again (or failed after max_attempts)")
    max_attempts: int = Field(3, ge=1, description="runs of one job before it is failed")
    dispatch_interval_s: float = Field(0.5, gt=0,
                                       description="seconds between two passes of the dispatcher")
    schedule_interval_s: float = Field(
        1.0, gt=0, description="seconds between two passes of the scheduler over the schedules")
    schedule_tick_hold_s: float = Field(
        0.0, ge=0, description="seconds a scheduler pass holds a tick's transaction open after"
        " writing its run and job, before committing: 0 in service; the crash tests set it to"
        " kill a server in the middle of a tick")
    migrate_on_start: bool = Field(True, description="upgrade the database schema on start")
    log_level: str = Field("info", description="log level of the server and workers")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (read once from the environment)."""
    return Settings()
