"""A Redis master change through Sentinel (``neurmatic failover redis``).

Sentinel owns Redis failover (it elects, promotes and reconfigures); this flow only asks for one with
``SENTINEL FAILOVER`` and then checks the outcome the way clients will see it: every reachable Sentinel
names the same new master, that server says it is a master, and the old master (if it answers) has
become its replica. A Sentinel that does not answer is left out of the agreement, not waited for.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis

from neurmatic.adapters.redis import (
    direct,
    discover_servers,
    sentinel_addresses,
    sentinel_command,
    server_password,
)
from neurmatic.deployment.failover import (
    FailoverFailed,
    Progress,
    RedisFailoverResult,
    no_progress,
    wait_until,
)
from neurmatic.deployment.model import Deployment

Address = tuple[str, int]
T = TypeVar("T")
REPLICA_READY_TIMEOUT = 15.0


@dataclass(frozen=True)
class _Sentinels:
    """The deployment's Sentinels, how to reach them, and the master they watch."""

    addresses: list[Address]
    password: str | None
    master: str

    def client(self, address: Address) -> redis.Redis:
        return direct(address[0], address[1], self.password, timeout=2.0)


def failover_redis(
    deployment: Deployment, *, timeout: float = 30.0, progress: Progress = no_progress
) -> RedisFailoverResult:
    """SENTINEL FAILOVER, then wait until the Sentinels agree on a new master that serves as one."""
    settings = deployment.settings.redis
    if not settings.sentinels:
        raise FailoverFailed(
            f"{deployment.source} names no Sentinels: Redis has no failover to ask for",
            hint="set REDIS_SENTINELS (host:port,…) and REDIS_SENTINEL_MASTER",
        )
    secret = settings.sentinel_password
    sentinels = _Sentinels(
        sentinel_addresses(settings), secret.get_secret_value() if secret else None, settings.sentinel_master
    )
    known = list(deployment.redis_nodes) or discover_servers(settings)
    names = {address: f"redis-{i}" for i, address in enumerate(known, start=1)}  # as `health` names them
    masters = _ask(sentinels, _master_address)
    if not masters:
        raise FailoverFailed(
            f"no Sentinel answers (of {len(sentinels.addresses)})",
            hint="check that the Sentinels run and REDIS_SENTINEL_PASSWORD is theirs",
        )
    old = Counter(masters).most_common(1)[0][0]
    progress(
        f"current master: {_describe(old, names)}; "
        f"{len(masters)} of {len(sentinels.addresses)} Sentinels answer"
    )
    wait_until(
        lambda: any(_ask(sentinels, _has_promotable_replica)),
        timeout=min(REPLICA_READY_TIMEOUT, timeout),
        failure="no Sentinel knows a healthy replica to promote",
        hint="check `neurmatic status`: the replica must run and be in sync with the master",
    )
    started = time.monotonic()
    _request_failover(sentinels)
    progress("failover requested from Sentinel")
    password = server_password(settings)
    outcome: dict[str, tuple[Address, str]] = {}

    def settled() -> bool:
        agreed = set(_ask(sentinels, _master_address))
        if len(agreed) != 1 or old in agreed:
            return False
        new = agreed.pop()
        if _role(new, password) != ("master", None):
            return False
        old_role = _role(old, password)
        if old_role == ("master", None):
            _demote(old, new, password)
            old_role = _role(old, password)
        if old_role is not None and old_role != ("slave", new):
            return False
        outcome["result"] = (new, "unreachable" if old_role is None else "replica")
        return True

    wait_until(
        settled,
        timeout=timeout,
        failure="the Sentinels did not agree on a new master serving as one (the old one its replica)",
        hint="see `neurmatic logs sentinel-1` and `neurmatic status`",
    )
    new_address, old_now = outcome["result"]
    return RedisFailoverResult(
        old_master=_describe(old, names),
        new_master=_describe(new_address, names),
        elapsed_seconds=time.monotonic() - started,
        sentinels_agreeing=len(_ask(sentinels, _master_address)),
        old_master_now=old_now,
    )


def _ask(sentinels: _Sentinels, question: Callable[[redis.Redis, str], T]) -> list[T]:
    """The answers of the Sentinels that answer (one that does not is left out, never waited for)."""
    answers = []
    for address in sentinels.addresses:
        client = sentinels.client(address)
        try:
            answers.append(question(client, sentinels.master))
        except redis.RedisError:
            pass
        finally:
            client.close()
    return answers


def _request_failover(sentinels: _Sentinels) -> None:
    """SENTINEL FAILOVER on the first Sentinel that takes it (one already in progress is as good)."""
    refusals = []
    for address in sentinels.addresses:
        client = sentinels.client(address)
        name = f"Sentinel {address[0]}:{address[1]}"
        try:
            sentinel_command(client, "FAILOVER", sentinels.master)
            return
        except redis.ResponseError as exc:
            if "INPROG" in str(exc):
                return
            refusals.append(f"{name}: {exc}")
        except redis.RedisError as exc:
            refusals.append(f"{name}: {type(exc).__name__}")
        finally:
            client.close()
    raise FailoverFailed(
        "no Sentinel started the failover (" + "; ".join(refusals) + ")",
        hint="see `neurmatic logs sentinel-1`",
    )


def _master_address(sentinel: redis.Redis, master: str) -> Address:
    host, port = sentinel_command(sentinel, "GET-MASTER-ADDR-BY-NAME", master)
    return str(host), int(port)


def _has_promotable_replica(sentinel: redis.Redis, master: str) -> bool:
    """A replica Sentinel sees as up, linked to its master, with no down flags."""
    for entry in sentinel_command(sentinel, "REPLICAS", master):
        fields = dict(zip(entry[::2], entry[1::2], strict=False)) if isinstance(entry, list) else entry
        flags = str(fields.get("flags", ""))
        if "down" not in flags and "disconnected" not in flags and fields.get("master-link-status") == "ok":
            return True
    return False


def _role(address: Address, password: str | None) -> tuple[str, Address | None] | None:
    """("master", None), ("slave", its master's address), or None when the server does not answer."""
    client = direct(address[0], address[1], password, timeout=1.0)
    try:
        info = client.info("replication")
    except redis.RedisError:
        return None
    finally:
        client.close()
    if info.get("role") == "master":
        return "master", None
    return "slave", (str(info.get("master_host")), int(info.get("master_port", 0)))


def _demote(old: Address, new: Address, password: str | None) -> None:
    """Make the old master a replica of ``new`` now, exactly as Sentinel would (REPLICAOF, CONFIG
    REWRITE so a restart keeps the role, CLIENT KILL so stale clients reconnect through Sentinel).

    Sentinel does this only at its next INFO poll of the old master, up to 10 s later; in between two
    masters take writes and whatever a stale connection writes to the old one is lost. Only called once
    every reachable Sentinel names ``new``, so it never contradicts them.
    """
    client = direct(old[0], old[1], password, timeout=2.0)
    try:
        pipe = client.pipeline(transaction=True)
        pipe.execute_command("REPLICAOF", new[0], str(new[1]))  # type: ignore[no-untyped-call]
        pipe.execute_command("CONFIG", "REWRITE")  # type: ignore[no-untyped-call]
        pipe.execute_command("CLIENT", "KILL", "TYPE", "normal")  # type: ignore[no-untyped-call]
        pipe.execute()
    except redis.RedisError:
        pass  # Sentinel will do it at its next poll; the caller keeps waiting for that
    finally:
        client.close()


def _describe(address: Address, names: dict[Address, str]) -> str:
    return f"{names.get(address, 'redis')} ({address[0]}:{address[1]})"
