"""One check per component, each with its own timeout, all run concurrently; a failing check reports
``down`` with a short reason of our own words, never the library's exception text (it may carry hosts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel
from sqlalchemy import text

from neurmatic.adapters.patroni import PatroniApi, first_cluster
from neurmatic.db.engines import Database
from neurmatic.domain.heartbeat import HEARTBEAT_PREFIX
from neurmatic.domain.jobs import ALL_QUEUES, QueueKeys
from neurmatic.health import Status, patroni_status
from neurmatic.wal_archive import ARCHIVER_QUERY, ArchiverState, assess

CHECK_TIMEOUT_SECONDS = 2.0
SENTINEL_TIMEOUT_SECONDS = 1.0
PATRONI_TIMEOUT_SECONDS = 0.8  # per node asked; two fit in the check's own timeout
Component = dict[str, Any]


async def timed(
    check: Callable[[], Awaitable[Component]], timeout: float = CHECK_TIMEOUT_SECONDS
) -> Component:
    """Run ``check``; add its latency; turn a timeout or an error into ``status: down``."""
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        result = {"status": Status.DOWN, "reason": f"no answer within {timeout:g}s"}
    except Exception as exc:
        result = {"status": Status.DOWN, "reason": _reason(exc)}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def _reason(exc: Exception) -> str:
    name = type(exc).__name__
    if "Connection" in name or isinstance(exc, OSError):
        return "connection failed"
    if "Authentication" in name or "password" in name.lower():
        return "authentication failed"
    return "check failed"


async def check_primary(db: Database) -> Component:
    async with db.primary.connect() as conn:
        in_recovery = (await conn.execute(text("SELECT pg_is_in_recovery()"))).scalar_one()
    if in_recovery:
        return {"status": Status.DOWN, "role": "standby", "reason": "connected node is not read-write"}
    return {"status": Status.UP, "role": "primary"}


async def check_replica(db: Database) -> Component:
    if db.replica is None:
        return {"status": Status.NOT_CONFIGURED}
    in_recovery, lag_seconds = await db.standby_status()
    lag_bytes = None
    async with db.primary.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*), max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)) "
                    "FROM pg_stat_replication WHERE state = 'streaming'"
                )
            )
        ).one()
        streaming, lag_bytes = int(row[0]), (int(row[1]) if row[1] is not None else None)
    lag = round(float(lag_seconds), 3)
    too_far = lag > db.settings.replica_max_lag.total_seconds()
    status = Status.UP if in_recovery and streaming and not too_far else Status.DEGRADED
    report: Component = {
        "status": status,
        "role": "standby" if in_recovery else "primary",
        "streaming": streaming > 0,
        "replay_lag_seconds": lag,
        "replay_lag_bytes": lag_bytes,
    }
    if not in_recovery:
        report["reason"] = "no standby answers: reads go to the primary"
    return report


async def read_archiver(db: Database) -> ArchiverState:
    """The primary's ``pg_stat_archiver`` and WAL position (for this check and the metrics)."""
    async with db.primary.connect() as conn:
        row = (await conn.execute(text(ARCHIVER_QUERY))).one()
    return ArchiverState.from_row(row)


async def check_wal_archive(db: Database) -> Component:
    """The WAL archive: last archived segment, its age, segments waiting, failures."""
    state = await read_archiver(db)
    status, detail = assess(state)
    if status is Status.NOT_CONFIGURED:
        return {"status": status}
    report: Component = {"status": status, **state.figures()}
    if status is not Status.UP:
        report["reason"] = detail
    return report


async def check_redis(client: aioredis.Redis) -> Component:
    await client.ping()
    info = await client.info("replication")
    return {
        "status": Status.UP,
        "role": "master" if info.get("role") == "master" else str(info.get("role")),
        "connected_replicas": int(info.get("connected_slaves", 0)),
    }


async def check_sentinels(sentinel: Sentinel | None, master_name: str) -> Component:
    if sentinel is None:
        return {"status": Status.NOT_CONFIGURED}

    async def ask(node: aioredis.Redis) -> dict[str, Any] | None:
        try:  # each Sentinel gets its own short deadline: one dead node must not hide the others
            master = await asyncio.wait_for(
                node.execute_command("SENTINEL", "MASTER", master_name),  # type: ignore[no-untyped-call]
                SENTINEL_TIMEOUT_SECONDS,
            )
        except Exception:
            return None
        if isinstance(master, list):
            master = dict(zip(master[::2], master[1::2], strict=False))
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in master.items()}

    answers = await asyncio.gather(*(ask(node) for node in sentinel.sentinels))
    reachable = [a for a in answers if a is not None]
    if not reachable:
        return {
            "status": Status.DOWN,
            "reason": "no sentinel answered",
            "configured": len(answers),
            "reachable": 0,
        }
    quorum = int(reachable[0].get("quorum", 0))
    flags = str(_text(reachable[0].get("flags", "")))
    master_ok = "down" not in flags  # s_down or o_down: a Sentinel sees the master down
    status = Status.UP if len(reachable) >= quorum and master_ok else Status.DEGRADED
    return {
        "status": status,
        "configured": len(answers),
        "reachable": len(reachable),
        "quorum": quorum,
        "quorum_ok": len(reachable) >= quorum,
        "master_ok": master_ok,
    }


async def check_queue(client: aioredis.Redis) -> Component:
    """Live workers (their heartbeat keys) and, per RQ queue, jobs waiting, retries scheduled and failed
    jobs kept. Up while a worker is alive: a backlog or failures are numbers to alert on, not an outage."""
    workers = [key async for key in client.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=100)]
    async with client.pipeline(transaction=False) as pipe:
        for name in ALL_QUEUES:
            keys = QueueKeys.of(name)
            pipe.llen(keys.jobs)
            pipe.zcard(keys.scheduled)
            pipe.zcount(keys.failed, time.time(), "+inf")  # scores are expiry times: skip expired entries
        counts = [int(count) for count in await pipe.execute()]
    queues = {
        name: {"depth": counts[3 * i], "scheduled": counts[3 * i + 1], "failed": counts[3 * i + 2]}
        for i, name in enumerate(ALL_QUEUES)
    }
    return {
        "status": Status.UP if workers else Status.DEGRADED,
        "workers": len(workers),
        "depth": sum(queue["depth"] for queue in queues.values()),
        "failed": sum(queue["failed"] for queue in queues.values()),
        "queues": queues,
    }


async def check_patroni(urls: list[str]) -> Component:
    """The Patroni cluster as the first node that answers sees it (its REST API's GET /cluster, which
    needs no credentials): the leader, each member's role, state, timeline and lag, paused or not."""
    if not urls:
        return {"status": Status.NOT_CONFIGURED}
    apis = [PatroniApi(url, timeout=PATRONI_TIMEOUT_SECONDS) for url in urls]
    cluster = await asyncio.to_thread(first_cluster, apis)
    status, _ = patroni_status(cluster)
    return {
        "status": status,
        "leader": cluster.leader.name if cluster.leader else None,
        "paused": cluster.paused,
        "members": [member.as_dict() for member in cluster.members],
    }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
