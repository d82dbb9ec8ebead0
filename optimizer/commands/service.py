"""The job service's commands: `reshore serve`, `worker`, `keys ...`, `db ...`.

They are declared here, in the core, so that `reshore --help` lists them and their options
are checked as options; what they do lives in `reshore.api.cli`, imported only when one of
them runs. Without the `service` extra they print what to install and exit with status 4.
Options given here override the `RESHORE_*` environment variables (and reach the solver
processes through them); see docs/api.md and docs/operations.md.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from types import ModuleType
from typing import Annotated

import typer

from reshore.optimizer.commands.shared import EXIT_NO_SERVICE, fail

SERVICE_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "celery", "psycopg",
                   "pydantic_settings", "httpx", "tenacity", "limits", "croniter")
"""Import names of the `service` extra's distributions (pyproject.toml; a test keeps the two
lists the same)."""
INSTALL_HINT = "install the service extra: pip install 'reshore[service]'"


class Executor(StrEnum):
    local = "local"
    celery = "celery"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def service() -> ModuleType:
    """`reshore.api.cli`, once the service extra is known to be installed (otherwise exit
    with EXIT_NO_SERVICE and a one-line hint)."""
    for name in SERVICE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            raise fail(f"{INSTALL_HINT} ({name} is missing)", EXIT_NO_SERVICE) from None
    return importlib.import_module("reshore.api.cli")


DatabaseUrl = Annotated[str | None, typer.Option(
    help="Job store URL (RESHORE_DATABASE_URL).",
    show_default="the SQLite file reshore.db in the current folder")]
Level = Annotated[LogLevel | None, typer.Option(
    help="Log level (RESHORE_LOG_LEVEL).", show_default="info")]
BrokerUrl = Annotated[str | None, typer.Option(
    help="Celery broker URL (RESHORE_BROKER_URL).", show_default="RESHORE_BROKER_URL")]


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    executor: Annotated[Executor | None, typer.Option(
        help="Where solves run (RESHORE_EXECUTOR).", show_default="local")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Solver processes of the local executor (RESHORE_WORKERS).", min=1,
        show_default="RESHORE_WORKERS")] = None,
    broker_url: BrokerUrl = None,
    database_url: DatabaseUrl = None,
    log_level: Level = None,
) -> None:
    """Run the HTTP job service."""
    raise typer.Exit(service().serve(
        host=host, port=port, executor=executor and str(executor), workers=workers,
        broker_url=broker_url, database_url=database_url, log_level=log_level and str(log_level)))


def worker_command(
    concurrency: Annotated[int, typer.Option(
        help="Jobs solved at once by this worker.", min=1)] = 1,
    name: Annotated[str | None, typer.Option(
        help="Worker name, e.g. solver1@%h.", show_default="Celery's")] = None,
    broker_url: BrokerUrl = None,
    database_url: DatabaseUrl = None,
    log_level: Level = None,
) -> None:
    """Run a Celery worker for the job service."""
    raise typer.Exit(service().worker(
        concurrency=concurrency, name=name, broker_url=broker_url, database_url=database_url,
        log_level=log_level and str(log_level)))


keys = typer.Typer(help="Manage API keys.", no_args_is_help=True)


@keys.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant the key acts for.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    database_url: DatabaseUrl = None,
    log_level: Level = None,
) -> None:
    """Create a key for a tenant (its token is printed once)."""
    raise typer.Exit(service().keys_create(
        tenant=tenant, name=name, database_url=database_url,
        log_level=log_level and str(log_level)))


@keys.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(
        help="Only this tenant's keys.", show_default="every tenant")] = None,
    database_url: DatabaseUrl = None,
    log_level: Level = None,
) -> None:
    """List keys (never their secrets)."""
    raise typer.Exit(service().keys_list(
        tenant=tenant, database_url=database_url, log_level=log_level and str(log_level)))


@keys.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The id shown by `reshore keys list`.")],
    database_url: DatabaseUrl = None,
    log_level: Level = None,
) -> None:
    """Revoke a key by its id."""
    raise typer.Exit(service().keys_revoke(
        key_id=key_id, database_url=database_url, log_level=log_level and str(log_level)))


db = typer.Typer(help="Manage the job store.", no_args_is_help=True)


@db.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None, log_level: Level = None) -> None:
    """Apply the job store's schema migrations."""
    raise typer.Exit(service().db_upgrade(
        database_url=database_url, log_level=log_level and str(log_level)))


def add_service_commands(app: typer.Typer) -> None:
    """Add serve, worker, keys and db to `app`."""
    app.command("serve")(serve_command)
    app.command("worker")(worker_command)
    app.add_typer(keys, name="keys")
    app.add_typer(db, name="db")
