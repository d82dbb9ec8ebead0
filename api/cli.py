"""The service's console commands, added to `reshore`:

    reshore serve  [--host H] [--port P] [--executor local|celery] [--workers N]
                   [--database-url URL] [--broker-url URL]
    reshore worker [--concurrency N] [--name NAME] [--database-url URL] [--broker-url URL]
    reshore keys create --tenant T [--name NAME] | keys list [--tenant T] | keys revoke KEY_ID
    reshore db upgrade

Options given here override the `RESHORE_*` environment variables (and are passed on to the
solver processes through them).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

COMMANDS = ("serve", "worker", "keys", "db")
"""The `reshore` commands this module handles."""


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="job store URL (RESHORE_DATABASE_URL; default:"
                        " the SQLite file reshore.db in the current folder)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        help="log level (RESHORE_LOG_LEVEL, default info)")


def add_commands(subparsers: Any) -> None:
    """Add serve, worker, keys and db to `reshore`'s argparse subcommands."""
    serve = subparsers.add_parser("serve", help="run the HTTP job service")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--executor", choices=["local", "celery"],
                       help="where solves run (RESHORE_EXECUTOR, default local)")
    serve.add_argument("--workers", type=int,
                       help="solver processes of the local executor (RESHORE_WORKERS)")
    serve.add_argument("--broker-url", help="Celery broker URL (RESHORE_BROKER_URL)")
    _store_options(serve)

    worker = subparsers.add_parser("worker", help="run a Celery worker for the job service")
    worker.add_argument("--concurrency", type=int, default=1,
                        help="jobs solved at once by this worker (default 1)")
    worker.add_argument("--name", help="worker name, e.g. solver1@%%h")
    worker.add_argument("--broker-url", help="Celery broker URL (RESHORE_BROKER_URL)")
    _store_options(worker)

    keys = subparsers.add_parser("keys", help="manage API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key for a tenant (printed once)")
    create.add_argument("--tenant", required=True, help="tenant the key acts for")
    create.add_argument("--name", default="", help="what the key is for")
    _store_options(create)
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    _store_options(listing)
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the id shown by `reshore keys list`")
    _store_options(revoke)

    database = subparsers.add_parser("db", help="manage the job store")
    db_actions = database.add_subparsers(dest="db_command", required=True)
    upgrade = db_actions.add_parser("upgrade", help="apply the schema migrations")
    _store_options(upgrade)


def _export(args: argparse.Namespace) -> None:
    """Command-line options become RESHORE_* variables, seen by every child process."""
    for option, variable in (("database_url", "DATABASE_URL"), ("log_level", "LOG_LEVEL"),
                             ("executor", "EXECUTOR"), ("workers", "WORKERS"),
                             ("broker_url", "BROKER_URL")):
        value = getattr(args, option, None)
        if value is not None:
            os.environ[f"RESHORE_{variable}"] = str(value)
    from reshore.api.config import get_settings

    get_settings.cache_clear()


def run(args: argparse.Namespace) -> int:
    """Run one of the service's commands; the exit status."""
    _export(args)
    from reshore.api.config import get_settings

    settings = get_settings()
    if args.command == "serve":
        import uvicorn

        uvicorn.run("reshore.api.main:app_from_environment", factory=True, host=args.host,
                    port=args.port, log_level=settings.log_level)
        return 0
    if args.command == "worker":
        from reshore.api import db
        from reshore.api.worker import start_worker

        if not db.schema_is_current(settings.database_url):
            print("error: the job store is not at the newest schema; start `reshore serve`"
                  " once or run `reshore db upgrade`", file=sys.stderr)
            return 1
        start_worker(settings, args.concurrency, args.name, settings.log_level)
        return 0
    if args.command == "db":
        from reshore.api import db

        db.migrate(settings.database_url)
        print("the job store is at the newest schema")
        return 0
    return _keys(args, settings.database_url)


def _keys(args: argparse.Namespace, url: str) -> int:
    from reshore.api import db, security

    db.migrate(url)
    with db.session_scope(url) as session:
        if args.keys_command == "create":
            key = security.create_key(session, args.tenant, args.name)
            print(key.token)
            print(f"key {key.key_id} for tenant {key.tenant}; the token above is shown only"
                  " once", file=sys.stderr)
            return 0
        if args.keys_command == "list":
            rows = security.list_keys(session, args.tenant)
            print(f"{'key id':<14} {'tenant':<20} {'created (UTC)':<20} {'state':<8} name")
            for row in rows:
                state = "revoked" if row.revoked_at else "active"
                print(f"{row.id:<14} {row.tenant:<20} {row.created_at:%Y-%m-%d %H:%M:%S}"
                      f"  {state:<8} {row.name}")
            return 0
        if security.revoke_key(session, args.key_id):
            print(f"key {args.key_id} revoked")
            return 0
        print(f"error: no active key {args.key_id}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """`python -m reshore.api.cli ...`: the same commands without the rest of `reshore`."""
    parser = argparse.ArgumentParser(prog="reshore")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
