"""Alembic, configured from code: ``upgrade_to_head(url)`` runs every migration against the primary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from neurmatic.db.url import DatabaseUrl

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def sync_engine(url: DatabaseUrl) -> Engine:
    """A blocking engine on the current primary (libpq tries each host, keeps the read-write one)."""
    dsn = url.driver_dsn()
    attrs = url.target_session_attrs

    def connect() -> Any:
        return psycopg.connect(dsn, target_session_attrs=attrs, connect_timeout=5)

    return create_engine("postgresql+psycopg://", creator=connect, pool_pre_ping=True)


def alembic_config(url: DatabaseUrl) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = sync_engine(url)
    return config


def upgrade_to_head(url: DatabaseUrl) -> None:
    config = alembic_config(url)
    try:
        command.upgrade(config, "head")
    finally:
        config.attributes["engine"].dispose()


def current_revision(url: DatabaseUrl) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade_sql(url: DatabaseUrl) -> tuple[str | None, str]:
    """The database's revision and the SQL that would bring it to head (Alembic's offline mode)."""
    import io

    current = current_revision(url)
    buffer = io.StringIO()
    config = Config(output_buffer=buffer)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    command.upgrade(config, f"{current}:head" if current else "head", sql=True)
    return current, buffer.getvalue()
