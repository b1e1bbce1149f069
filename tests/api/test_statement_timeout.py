"""A statement slower than DATABASE_STATEMENT_TIMEOUT is cancelled by PostgreSQL and reads as an outage
(503 with Retry-After), so the app answers before nginx's proxy_read_timeout would count the request
against the instance."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from neurmatic.api.outages import is_outage
from neurmatic.db.engines import Database
from neurmatic.db.url import DatabaseUrl
from tests.conftest import RunningTopology


async def test_a_statement_over_the_timeout_is_cancelled_and_is_an_outage(topology: RunningTopology) -> None:
    settings = topology.app_settings().database.model_copy(update={"statement_timeout_seconds": 0.2})
    db = Database(settings)
    try:
        async with db.primary.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
            with pytest.raises(Exception) as caught:
                await connection.execute(text("SELECT pg_sleep(2)"))
        assert is_outage(caught.value), repr(caught.value)
    finally:
        await db.close()


def test_the_default_stays_inside_the_edges_read_timeout() -> None:
    from neurmatic.render.nginx import UPSTREAM_TIMEOUT
    from neurmatic.settings import DatabaseSettings

    assert 0 < DatabaseSettings().statement_timeout_seconds < float(UPSTREAM_TIMEOUT.removesuffix("s"))


async def test_no_writable_node_is_an_outage(topology: RunningTopology) -> None:
    """In a switchover's window both nodes are standbys: libpq's target_session_attrs=read-write finds no
    host, asyncpg says so with an error of its own (not a connection error), and it is an outage (503),
    not a bug (500)."""
    settings = topology.app_settings().database
    url = DatabaseUrl.parse(settings.url.get_secret_value())
    standbys = []
    for node, host in enumerate(url.hosts, start=1):
        with topology.superuser(node=node) as conn:
            if conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,):
                standbys.append(host)
    assert standbys, "the topology has a standby"
    only_standbys = replace(url, hosts=standbys, params={**url.params, "target_session_attrs": "read-write"})
    db = Database(settings.model_copy(update={"url": SecretStr(only_standbys.driver_dsn())}))
    try:
        with pytest.raises(Exception) as caught:
            async with db.primary.connect() as connection:
                await connection.execute(text("SELECT 1"))
        assert is_outage(caught.value), repr(caught.value)
        # The hot paths' pooled driver connection: SQLAlchemy raises its adapter's error from asyncpg's (a
        # switchover in CI answered 149 requests 500 this way).
        with pytest.raises(Exception) as raw:
            async with db.driver_connection():
                pass
        assert is_outage(raw.value), repr(raw.value)
    finally:
        await db.close()
