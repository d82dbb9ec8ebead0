"""What the service's console commands do: `reshore serve`, `worker`, `keys ...`, `db ...`.

The commands and their options are declared in `reshore.optimizer.commands.service` (so that
`reshore --help` lists them without the service installed); it calls the functions here.
`python -m reshore.api.cli serve ...` runs the same commands without the rest of `reshore`.

Options given on the command line override the `RESHORE_*` environment variables (and are
passed on to the solver processes through them).
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.table import Table

from reshore.api.config import Settings


def _settings(**options: object) -> Settings:
    """The service settings, command-line options first: they become RESHORE_* variables,
    seen by every child process."""
    for option, value in options.items():
        if value is not None:
            os.environ[f"RESHORE_{option.upper()}"] = str(value)
    from reshore.api.config import get_settings

    get_settings.cache_clear()
    return get_settings()


def serve(host: str, port: int, executor: str | None, workers: int | None,
          broker_url: str | None, database_url: str | None, log_level: str | None) -> int:
    """Run the HTTP job service until stopped; the exit status."""
    import uvicorn

    settings = _settings(executor=executor, workers=workers, broker_url=broker_url,
                         database_url=database_url, log_level=log_level)
    uvicorn.run("reshore.api.main:app_from_environment", factory=True, host=host, port=port,
                log_level=settings.log_level)
    return 0


def worker(concurrency: int, name: str | None, broker_url: str | None,
           database_url: str | None, log_level: str | None) -> int:
    """Run a Celery worker until stopped; the exit status."""
    from reshore.api import db
    from reshore.api.worker import start_worker

    settings = _settings(broker_url=broker_url, database_url=database_url,
                         log_level=log_level)
    if not db.schema_is_current(settings.database_url):
        print("error: the job store is not at the newest schema; start `reshore serve`"
              " once or run `reshore db upgrade`", file=sys.stderr)
        return 1
    start_worker(settings, concurrency, name, settings.log_level)
    return 0


def db_upgrade(database_url: str | None, log_level: str | None) -> int:
    from reshore.api import db

    settings = _settings(database_url=database_url, log_level=log_level)
    db.migrate(settings.database_url)
    print("the job store is at the newest schema")
    return 0


def keys_create(tenant: str, name: str, database_url: str | None,
                log_level: str | None) -> int:
    """Create a key: its token on standard output (shown only once), its id on standard
    error."""
    from reshore.api import db, security

    url = _settings(database_url=database_url, log_level=log_level).database_url
    db.migrate(url)
    with db.session_scope(url) as session:
        key = security.create_key(session, tenant, name)
        print(key.token)
        print(f"key {key.key_id} for tenant {key.tenant}; the token above is shown only once",
              file=sys.stderr)
    return 0


def keys_list(tenant: str | None, database_url: str | None, log_level: str | None) -> int:
    from reshore.api import db, security

    url = _settings(database_url=database_url, log_level=log_level).database_url
    db.migrate(url)
    table = Table("key id", "tenant", "created (UTC)", "state", "name")
    with db.session_scope(url) as session:
        for row in security.list_keys(session, tenant):
            table.add_row(row.id, row.tenant, f"{row.created_at:%Y-%m-%d %H:%M:%S}",
                          "revoked" if row.revoked_at else "active", row.name)
    Console(highlight=False).print(table)
    return 0


def keys_revoke(key_id: str, database_url: str | None, log_level: str | None) -> int:
    from reshore.api import db, security

    url = _settings(database_url=database_url, log_level=log_level).database_url
    db.migrate(url)
    with db.session_scope(url) as session:
        if security.revoke_key(session, key_id):
            print(f"key {key_id} revoked")
            return 0
    print(f"error: no active key {key_id}", file=sys.stderr)
    return 1


def main() -> None:
    """`python -m reshore.api.cli ...`: the service's commands without the rest of `reshore`."""
    import typer

    from reshore.optimizer.cli import run, with_version
    from reshore.optimizer.commands.service import add_service_commands

    app = with_version(typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                                   add_completion=False, pretty_exceptions_enable=False))
    add_service_commands(app)
    run(app)


if __name__ == "__main__":
    main()
