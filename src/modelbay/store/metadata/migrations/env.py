"""Alembic's entry point: migrate on the connection that modelbay's migrate.py passes in."""

from __future__ import annotations

from alembic import context

from modelbay.store.metadata.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():  # joins the caller's transaction
    context.run_migrations()
