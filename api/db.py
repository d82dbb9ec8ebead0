"""Engines, sessions and schema migrations of the job store.

SQLite (the default) is opened in WAL mode with a busy timeout, and every transaction takes
the write lock when it begins (`BEGIN IMMEDIATE`), so that the server and its solver processes
queue for the lock instead of failing. PostgreSQL needs nothing special.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_factories: dict[str, sessionmaker[Session]] = {}


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy issues BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def engine_for(url: str) -> Engine:
    """One engine per database URL and process."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            parsed = make_url(url)
            if parsed.get_backend_name() == "sqlite":
                engine = create_engine(url, connect_args={"check_same_thread": False,
                                                          "timeout": 30})
                _sqlite_setup(engine)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
            _engines[url] = engine
        return engine


def session_factory(url: str) -> sessionmaker[Session]:
    with _lock:
        factory = _factories.get(url)
    if factory is None:
        factory = sessionmaker(engine_for(url), expire_on_commit=False)
        with _lock:
            _factories[url] = factory
    return factory


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session committed on success, rolled back on error."""
    with session_factory(url)() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def dispose_all(*, close: bool = True) -> None:
    """Forget every engine; after a fork (`close=False`) the parent's connections are left to
    the parent."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=close)
        _engines.clear()
        _factories.clear()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Upgrade the schema to the newest migration (on PostgreSQL under an advisory lock, so
    that servers starting together do not race)."""
    from alembic import command

    engine = engine_for(url)
    config = alembic_config(url)
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(74727301)"))
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            if postgres:
                connection.execute(text("SELECT pg_advisory_unlock(74727301)"))
                connection.commit()


def schema_is_current(url: str) -> bool:
    """True when the database is at the newest migration."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with engine_for(url).connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        connection.rollback()
    return current == head


def ping(url: str) -> None:
    """Raise when the database does not answer."""
    with engine_for(url).connect() as connection:
        connection.execute(text("SELECT 1"))
        connection.rollback()


def probe_write(url: str) -> None:
    """Raise when the store cannot be written: a no-op update in a transaction that is rolled
    back (on SQLite, beginning it already takes the write lock)."""
    with engine_for(url).connect() as connection:
        transaction = connection.begin()
        try:
            connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
        finally:
            transaction.rollback()


def fault_reason(error: BaseException) -> str:
    """A database error in one line, without the SQL statement or its parameters."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


class StoreUnusableError(Exception):
    """The store cannot be opened or brought to the newest schema at start-up."""


def open_store(url: str, migrate_schema: bool) -> None:
    """Check at start-up that the store can be opened (and upgrade it when asked); raise
    `StoreUnusableError` with a one-line reason when it cannot."""
    try:
        if migrate_schema:
            migrate(url)
        elif not schema_is_current(url):
            raise StoreUnusableError("the job store is not at the newest schema; run"
                                     " `reshore db upgrade`")
        ping(url)
    except StoreUnusableError:
        raise
    except Exception as error:
        shown = make_url(url).render_as_string(hide_password=True)
        raise StoreUnusableError(f"the job store {shown} cannot be used:"
                                 f" {fault_reason(error)}") from error
