"""Alembic environment: migrations run on the connection handed in by `api.db.migrate`, or on
`sqlalchemy.url` when run from the `alembic` command."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from reshore.api import scheduler, webhooks  # noqa: F401 - their tables join Base.metadata
from reshore.api.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as own:
        context.configure(connection=own, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run()
