"""The API's database engines: the primary (read-write, found among several hosts by libpq's
``target_session_attrs``) and the standby for reads, used while it is healthy and not lagging.

Clients find the current primary themselves: after a failover the next connection lands on the promoted
node without a config edit or a restart, and connections broken by the failover are discarded at
checkout (``_discard_if_closed``).

The standby engine's URL prefers a standby but falls back to the primary (``prefer-standby``), and libpq
chooses only when a connection is opened. A pooled connection that reaches a primary (no standby was up,
or its node was promoted) would stay there until recycled, 30 minutes later, while a rebuilt standby
streams unused; so whenever the standby engine finds itself on a primary its pool is emptied and the
question asked again on a fresh connection (:meth:`Database.standby_status`), and a read that checks out
such a connection neither counts it as the standby's nor gives it back (:func:`on_standby`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import greenlet_spawn

from neurmatic.db.url import DatabaseUrl
from neurmatic.periodic import every
from neurmatic.settings import DatabaseSettings

log = logging.getLogger("neurmatic.db")

REPLICA_CHECK_INTERVAL_SECONDS = 2.0
# What leaves a connection unfit for the next caller: interrupted mid-statement, or broken.
INTERRUPTIONS = (
    asyncio.CancelledError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    OSError,
    TimeoutError,
)


def _connector(url: DatabaseUrl, settings: DatabaseSettings) -> Callable[[], Awaitable[Any]]:
    dsn = url.driver_dsn()
    server_settings = {"application_name": "neurmatic-api"}
    if settings.statement_timeout_seconds > 0:
        server_settings["statement_timeout"] = str(max(1, round(settings.statement_timeout_seconds * 1000)))

    async def connect() -> Any:
        return await asyncpg.connect(
            dsn=dsn,
            target_session_attrs=url.target_session_attrs,
            timeout=settings.connect_timeout_seconds,
            server_settings=server_settings,
        )

    return connect


def make_engine(url: DatabaseUrl, settings: DatabaseSettings, *, pool_size: int | None = None) -> AsyncEngine:
    engine = create_async_engine(
        "postgresql+asyncpg://",
        async_creator=_connector(url, settings),
        pool_size=pool_size or url.pool_size or settings.pool_size,
        # No overflow: beyond the pool, a request waits for a pooled connection. With overflow, each
        # request past the pool under load opened a connection (a TLS handshake, a backend forked) and
        # closed it on return: half the CPU of a database read, in the API and in PostgreSQL alike.
        max_overflow=0,
        pool_timeout=url.pool_timeout or settings.pool_timeout_seconds,
        pool_recycle=1800,
    )
    event.listen(engine.sync_engine.pool, "checkout", _discard_if_closed)
    return engine


def _discard_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection whose server went away (a failover, a restart) is replaced at checkout.

    Instead of ``pool_pre_ping``, whose asyncpg ping is three round trips (BEGIN, a query, ROLLBACK) on
    every checkout, twice per signed-in read: asyncpg marks a connection closed as soon as the server's
    end of the socket closes, so asking it costs nothing. A connection that dies unnoticed fails its
    query as a disconnect, which makes SQLAlchemy discard the whole pool: one request answers 503."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def on_standby(conn: asyncpg.Connection) -> bool:
    """Whether ``conn`` is on a standby now, without a round trip: PostgreSQL 14+ reports
    ``in_hot_standby`` when the connection opens and again when its node is promoted. (A pooled standby
    connection opened while no standby was up is on the primary: a read on it must not be labelled the
    standby's, and the pool must open a new one, which tries the standby first.)"""
    return getattr(conn.get_settings(), "in_hot_standby", "on") == "on"


@dataclass
class ReplicaState:
    """What the last standby check found."""

    healthy: bool = False
    in_recovery: bool | None = None
    lag_seconds: float | None = None
    checked_at: float = 0.0


REPLICA_STATUS_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
       END
"""


TRANSIENT_LAG_RECHECK_SECONDS = 0.2


async def standby_status(conn: Any) -> tuple[bool, float]:
    """(in recovery, replay lag in seconds) of the node behind ``conn``.

    The lag is the age of the last replayed commit while WAL is waiting to be replayed. After an idle
    spell, the first WAL record to arrive (a checkpoint, a running-transactions snapshot) is replayed in
    microseconds, but in that instant the formula gives the whole idle time; a caught-up standby would
    look 10 s behind. So a lag that looks worth reporting is measured once more a moment later, and
    the smaller figure stands: a standby that is really behind is behind both times.
    """
    in_recovery, lag = (await conn.exec_driver_sql(REPLICA_STATUS_SQL)).one()
    if float(lag) >= 1.0:
        await asyncio.sleep(TRANSIENT_LAG_RECHECK_SECONDS)
        in_recovery, again = (await conn.exec_driver_sql(REPLICA_STATUS_SQL)).one()
        lag = min(float(lag), float(again))
    return bool(in_recovery), float(lag)


class Database:
    """Both engines, their session factories, and the standby's health for read routing."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self.primary_url = DatabaseUrl.parse(settings.url.get_secret_value())
        self.primary = make_engine(self.primary_url, settings)
        self.replica: AsyncEngine | None = None
        self._replica_probe: AsyncEngine | None = None
        if settings.replica_url is not None:
            replica_url = DatabaseUrl.parse(
                settings.replica_url.get_secret_value(), variable="DATABASE_REPLICA_URL"
            )
            self.replica = make_engine(replica_url, settings)
            # The standby's health check has a connection of its own: from the requests' pool (which has
            # no overflow) it would wait behind them under load, and a wait that ran out would mark a
            # healthy standby down and send every read to the primary when it is busiest.
            self._replica_probe = make_engine(replica_url, settings, pool_size=1)
        self.replica_state = ReplicaState()
        self._write_sessions = async_sessionmaker(self.primary, expire_on_commit=False)
        self._read_sessions = (
            async_sessionmaker(self.replica, expire_on_commit=False) if self.replica else None
        )
        self._monitor: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read-write session on the primary."""
        async with self._write_sessions() as session:
            yield session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A read-only session: on the standby while it is healthy, on the primary otherwise.

        The standby may not have replayed a write the caller's user was just told about: callers check
        the write's position first (``api/articles/cache.py``), or use :meth:`session`."""
        use_replica = self._read_sessions is not None and self.replica_state.healthy
        factory = self._read_sessions if use_replica and self._read_sessions else self._write_sessions
        async with factory() as session:
            yield session

    @asynccontextmanager
    async def driver_connection(self, *, standby: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection as asyncpg's own, for the hottest reads: each statement commits on its
        own (no BEGIN and ROLLBACK round trips) and nothing of SQLAlchemy runs per statement. On the
        standby (``standby=True``) only while it is healthy, else the primary. Errors are asyncpg's."""
        engine = self.replica if standby and self.replica is not None and self.replica_state.healthy else None
        # The pool's own connection, without SQLAlchemy's Connection around it (a quarter of the cost of
        # checking one out); the checkout listener still replaces one the server closed.
        pooled = await (engine or self.primary).raw_connection()
        if engine is not None and not on_standby(pooled.driver_connection):
            await greenlet_spawn(pooled.invalidate)  # on a primary: the pool opens a new one next time
            pooled = await self.primary.raw_connection()
        try:
            yield pooled.driver_connection
        except INTERRUPTIONS:
            # It may be mid-statement (a cancellation) or broken: it is not reused.
            await greenlet_spawn(pooled.invalidate)
            raise
        except BaseException:  # a refused statement, or the caller's own error: the connection is fine
            await greenlet_spawn(pooled.close)
            raise
        # Back to the pool, in SQLAlchemy's greenlet: a connection past pool_size is closed there (awaits).
        await greenlet_spawn(pooled.close)

    async def standby_status(self) -> tuple[bool, float]:
        """(in recovery, replay lag) of the node the standby engine reaches, chosen afresh when the
        pooled connection was on a primary: the roles may have changed since it was opened."""
        if self.replica is None or self._replica_probe is None:
            raise RuntimeError("no standby engine: DATABASE_REPLICA_URL is not set")
        async with self._replica_probe.connect() as conn:
            in_recovery, lag = await standby_status(conn)
        if in_recovery:
            return in_recovery, lag
        # The next connections, the probe's and the requests', choose their node again.
        await self._replica_probe.dispose()
        await self.replica.dispose()
        async with self._replica_probe.connect() as conn:
            return await standby_status(conn)

    async def check_replica(self) -> ReplicaState:
        """Ask the standby whether it is in recovery and how far behind it replays. Reads go to it only
        while it is a standby that keeps up; on a primary (no standby up) the primary engine serves them."""
        if self.replica is None:
            return self.replica_state
        try:
            in_recovery, lag = await self.standby_status()
            max_lag = self.settings.replica_max_lag.total_seconds()
            healthy = in_recovery and lag <= max_lag
            self.replica_state = ReplicaState(healthy, in_recovery, lag, time.time())
        except Exception as exc:
            if self.replica_state.healthy:
                log.warning(
                    "standby unavailable: reads go to the primary", extra={"error": type(exc).__name__}
                )
            self.replica_state = ReplicaState(False, None, None, time.time())
        return self.replica_state

    async def _watch_replica(self) -> None:
        await every(REPLICA_CHECK_INTERVAL_SECONDS, self.check_replica)

    async def start(self) -> None:
        if self.replica is not None:
            await self.check_replica()
            self._monitor = asyncio.create_task(self._watch_replica(), name="replica-monitor")

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.wait({self._monitor}, timeout=3)
        await self.primary.dispose()
        for engine in (self.replica, self._replica_probe):
            if engine is not None:
                await engine.dispose()
