"""``neurmatic health``: every check runs, each with its own timeout, even when others fail.

A check answers in the health vocabulary the API uses (``up``, ``degraded``, ``down``; see
:mod:`neurmatic.health`) with a short detail in our own words. The checks read a ``Deployment``, however
it was described: the API through the load balancer (the public verdict) and each instance directly (its
whole component report, which only the internal network gets), every PostgreSQL node (primary read-write,
standby lag), the Patroni cluster (leader, members, timeline, lag, paused), every Redis server (found
through the Sentinels when not known up front), the Sentinels' quorum, queue depth and failed jobs, disk,
memory, the load balancer's TLS certificate, backup freshness and the WAL archive.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
from cryptography import x509

from neurmatic.adapters.patroni import STUCK_STATES, PatroniUnreachable, first_cluster, own_api
from neurmatic.adapters.postgres import PgEndpoint, is_in_recovery, query
from neurmatic.adapters.redis import (
    direct,
    discover_servers,
    sentinel_addresses,
    server_password,
    sync_master,
)
from neurmatic.backup_status import BackupStatus
from neurmatic.deployment.model import Deployment
from neurmatic.domain.jobs import ALL_QUEUES, QueueKeys
from neurmatic.errors import ConfigurationError, TopologyError
from neurmatic.health import REPLICA_LAG_WARN_BYTES, Status, Verdict, patroni_status, verdict
from neurmatic.ops.flows.backups.files import local_backups
from neurmatic.wal_archive import ARCHIVER_QUERY, ArchiverState, assess

CHECK_TIMEOUT_SECONDS = 5.0
DISK_WARN, DISK_FAIL = 85.0, 95.0
MEMORY_WARN, MEMORY_FAIL = 85.0, 95.0
CERT_WARN_DAYS = 14
BACKUP_WARN_HOURS = 26


@dataclass
class CheckResult:
    name: str
    status: Status
    detail: str
    duration_ms: float = 0.0


Outcome = tuple[Status, str]


def _api(url: str, verify: ssl.SSLContext | bool) -> Outcome:
    """The verdict of ``/api/v1/health``, with the component report when the instance gives it (asked
    directly from this machine, the internal network; through the load balancer only the verdict)."""
    response = httpx.get(url, verify=verify, timeout=CHECK_TIMEOUT_SECONDS - 1)
    try:
        data = response.json().get("data") or {}
    except ValueError:  # not our JSON (an HTML error page from something in between)
        data = {}
    status = data.get("status")
    components = data.get("components")
    summary = f"status {status}" + (f"; {_summary(data)}" if isinstance(components, dict) else "")
    if response.status_code != 200:
        return Status.DOWN, f"HTTP {response.status_code}" + (f", {summary}" if status else "")
    return (Status.UP if status in ("healthy", "ready", "alive") else Status.DEGRADED), summary


def _summary(report: dict[str, Any]) -> str:
    """One line of an instance's report: version, uptime, then each component and its figures."""
    parts = [f"version {report.get('version')}", f"up {report.get('uptime')}s"]
    for name, component in report["components"].items():
        facts = [
            f"{key} {value}"
            for key, value in component.items()
            if key not in ("status", "latency_ms", "queues") and value is not None
        ]
        parts.append(f"{name} {component.get('status')}" + (f" ({', '.join(facts)})" if facts else ""))
    return ", ".join(parts)


def _postgres(deployment: Deployment, host: str, port: int) -> Outcome:
    admin = deployment.admin
    endpoint = PgEndpoint(host, port, admin.user, admin.password or "", admin.dbname)
    try:
        in_recovery = is_in_recovery(endpoint, timeout=3)
    except TopologyError:
        rejoining = _patroni_rejoining(deployment, host, port)
        if rejoining is not None:
            # Patroni is bringing the node back (rewind, clone, restart) while the leader serves.
            return Status.DEGRADED, rejoining
        raise
    if not in_recovery:
        stray = _not_patronis_leader(deployment, host, port)
        if stray is not None:
            return Status.DOWN, stray
        return Status.UP, "primary, read-write"
    rows = query(
        endpoint,
        "SELECT pg_last_wal_receive_lsn() IS NOT NULL, "
        "COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)",
    )
    streaming, lag = bool(rows[0][0]), int(rows[0][1])
    if not streaming:
        return Status.DOWN, "standby without a WAL stream"
    return (
        Status.DEGRADED if lag > REPLICA_LAG_WARN_BYTES else Status.UP
    ), f"standby, replay lag {lag} bytes"


def _not_patronis_leader(deployment: Deployment, host: str, port: int) -> str | None:
    """Why a read-write node on ``port`` must not be one (it is not the leader Patroni names: an orphaned
    old primary whose Patroni is gone), else None."""
    if not deployment.patroni_urls:
        return None
    try:
        leader = first_cluster(deployment.patroni_apis(timeout=2)).leader
    except TopologyError:
        return None  # the `patroni` check reports that no Patroni answers; this node may well lead
    if leader is not None and (leader.host, leader.port) == (host, port):
        return None
    named = f"Patroni's leader is {leader.name}" if leader else "Patroni names no running leader"
    return f"read-write but not Patroni's leader ({named}): a second primary; restart its Patroni"


def _patroni_rejoining(deployment: Deployment, host: str, port: int) -> str | None:
    """What Patroni says of the node at ``host:port`` while it is not serving but the cluster is, else
    None; a state Patroni does not leave by itself says what to run."""
    if not deployment.patroni_urls:
        return None
    try:
        cluster = first_cluster(deployment.patroni_apis(timeout=2))
    except TopologyError:
        return None
    member = next((m for m in cluster.members if (m.host, m.port) == (host, port)), None)
    if cluster.leader is None or member is None or member.is_leader:
        return None
    if member.state in STUCK_STATES:
        return f"Patroni: {member.state}; it does not come back by itself: run `neurmatic standby rebuild`"
    return f"Patroni: {member.state}, being brought back while {cluster.leader.name} serves"


def _patroni(deployment: Deployment) -> Outcome:
    """The Patroni cluster: a running leader, every member serving, the lag, the timeline, paused or not."""
    if not deployment.patroni_urls:
        return Status.NOT_CONFIGURED, "no NEURMATIC_PATRONI_URLS: no automatic PostgreSQL failover"
    apis = deployment.patroni_apis(timeout=2)
    cluster = first_cluster(apis)
    leader = cluster.leader
    own = own_api(apis, leader) if leader is not None else None
    # /cluster may be a Patroni's cached view while etcd is unreachable; the leader's /primary answers 200
    # only while it really holds the leader key.
    if leader is not None and own is not None and own.get("/primary").status != 200:
        return (
            Status.DOWN,
            f"{leader.name} is listed as leader but does not hold the leader key (etcd quorum lost?)",
        )
    return patroni_status(cluster)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def redis_nodes(deployment: Deployment) -> list[tuple[str, int]]:
    """Every Redis server: known up front (the local topology), else found through the Sentinels."""
    return list(deployment.redis_nodes) or discover_servers(deployment.settings.redis)


def _redis(deployment: Deployment, host: str, port: int) -> Outcome:
    client = direct(host, port, server_password(deployment.settings.redis), timeout=3)
    try:
        info = client.info("replication")
    finally:
        client.close()
    if info.get("role") == "master":
        return Status.UP, f"master, {info.get('connected_slaves', 0)} replica(s)"
    link = info.get("master_link_status")
    return (Status.UP if link == "up" else Status.DOWN), f"replica, link {link}"


def _sentinels(deployment: Deployment) -> Outcome:
    redis = deployment.settings.redis
    addresses = sentinel_addresses(redis)
    if not addresses:
        return Status.NOT_CONFIGURED, "no REDIS_SENTINELS: no automatic Redis failover"
    seen = 0
    for host, port in addresses:
        client = direct(host, port, _secret(redis.sentinel_password), timeout=2)
        try:
            client.execute_command("SENTINEL", "CKQUORUM", redis.sentinel_master)  # type: ignore[no-untyped-call]
            seen += 1
        except Exception:  # noqa: S112 - one unreachable Sentinel is counted, not fatal
            continue
        finally:
            client.close()
    total = len(addresses)
    if seen > total // 2:
        return (Status.UP if seen == total else Status.DEGRADED), f"{seen}/{total} Sentinels with quorum"
    return Status.DOWN, f"{seen}/{total} Sentinels: no quorum, no failover possible"


def _queues(deployment: Deployment) -> Outcome:
    client = sync_master(deployment.settings.redis)
    try:
        depth = sum(int(client.llen(QueueKeys.of(q).jobs)) for q in ALL_QUEUES)
        failed = sum(int(client.zcard(QueueKeys.of(q).failed)) for q in ALL_QUEUES)
        workers = len(list(client.scan_iter(match="neurmatic:workers:*", count=100)))
    finally:
        client.close()
    status = Status.DOWN if workers == 0 else Status.DEGRADED if depth > 100 or failed > 50 else Status.UP
    return status, f"{workers} worker(s), {depth} waiting, {failed} failed"


def threshold(used: float, warn: float, fail: float, what: str) -> Outcome:
    status = Status.DOWN if used >= fail else Status.DEGRADED if used >= warn else Status.UP
    return status, f"{what} {used:.0f}% used"


def disk_usage(path: Path) -> Outcome:
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    usage = shutil.disk_usage(existing)
    return threshold(usage.used * 100 / usage.total, DISK_WARN, DISK_FAIL, f"disk of {existing}")


def fetch_served_certificate(url: str) -> x509.Certificate | None:
    """The certificate the edge at ``url`` serves now, read without judging trust (the callers do that);
    OSError when nothing answers."""
    parts = urlsplit(url)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection((parts.hostname, parts.port or 443), timeout=3) as raw,
        context.wrap_socket(raw, server_hostname=parts.hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


def served_certificate(url: str) -> Outcome:
    """The certificate the load balancer serves now (what clients see), not a file that may differ."""
    if urlsplit(url).scheme != "https":
        return Status.NOT_CONFIGURED, f"{url} is not https"
    cert = fetch_served_certificate(url)  # expiry is read here; trust is checked by the api check
    if cert is None:
        return Status.DOWN, "no certificate served"
    days = (cert.not_valid_after_utc - datetime.now(UTC)).days
    status = Status.DOWN if days < 0 else Status.DEGRADED if days < CERT_WARN_DAYS else Status.UP
    return status, f"expires in {days} days"


def backup_freshness(directory: Path) -> Outcome:
    """Age of the last good backup: its record when there is one, else the newest backup file."""
    recorded = BackupStatus.read(directory)
    if recorded is not None:
        finished = recorded.timestamp
    else:
        backups = local_backups(directory)
        if not backups:
            return Status.DEGRADED, "no backup yet"
        finished = backups[0].stat().st_mtime
    age_hours = (time.time() - finished) / 3600
    verified = ", verified" if recorded and recorded.verified else ""
    status = Status.DEGRADED if age_hours > BACKUP_WARN_HOURS else Status.UP
    return status, f"last good backup {age_hours:.1f} h ago{verified}"


def _wal_archive(deployment: Deployment) -> Outcome:
    """The primary's WAL archiver: see :mod:`neurmatic.wal_archive` for what counts as a warning."""
    with deployment.admin.connect(autocommit=True) as conn:
        row = conn.execute(ARCHIVER_QUERY).fetchone()
    if row is None:  # pg_stat_archiver always has its one row; guards the type, not a real case
        return Status.DOWN, "pg_stat_archiver returned no row"
    return assess(ArchiverState.from_row(row))


def checks_for(deployment: Deployment, backup_dir: Path) -> dict[str, Callable[[], Outcome]]:
    ca = deployment.ca_file
    trust = ssl.create_default_context(cafile=str(ca)) if ca is not None else True
    public = deployment.public_url
    checks: dict[str, Callable[[], Outcome]] = {
        "api (load balancer)": lambda: _api(f"{public}/api/v1/health", trust),
    }
    for index, base in enumerate(deployment.api_instances, start=1):
        checks[f"backend-{index}"] = (lambda url: lambda: _api(url, False))(f"{base}/api/v1/health")
    for index, (host, port) in enumerate(deployment.admin.hosts, start=1):
        checks[f"postgres-{index}"] = (lambda h, p: lambda: _postgres(deployment, h, p))(host, port)
    checks["patroni"] = lambda: _patroni(deployment)
    try:
        nodes = redis_nodes(deployment)
    except Exception:
        nodes = []
    for index, (host, port) in enumerate(nodes, start=1):
        checks[f"redis-{index}"] = (lambda h, p: lambda: _redis(deployment, h, p))(host, port)
    checks["sentinels"] = lambda: _sentinels(deployment)
    checks["queues"] = lambda: _queues(deployment)
    checks["disk"] = lambda: disk_usage(backup_dir)
    checks["memory"] = lambda: threshold(psutil.virtual_memory().percent, MEMORY_WARN, MEMORY_FAIL, "memory")
    checks["tls certificate"] = lambda: served_certificate(public)
    checks["backups"] = lambda: backup_freshness(backup_dir)
    checks["wal archive"] = lambda: _wal_archive(deployment)
    return checks


def run_checks(checks: dict[str, Callable[[], Outcome]]) -> list[CheckResult]:
    """Run every check concurrently, each bounded by its own timeout; a raising check is down.

    A check past its timeout is reported and left behind (its thread is not waited for), so the whole
    run takes at most the timeout, and each duration is the check's own.
    """
    pool = ThreadPoolExecutor(max_workers=min(16, len(checks) or 1))
    started = time.perf_counter()
    futures = {name: pool.submit(_timed, check) for name, check in checks.items()}
    results: list[CheckResult] = []
    for name, future in futures.items():
        try:
            remaining = max(0.1, CHECK_TIMEOUT_SECONDS - (time.perf_counter() - started))
            (status, detail), took = future.result(timeout=remaining)
        except FutureTimeout:
            status, detail, took = (
                Status.DOWN,
                f"no answer within {CHECK_TIMEOUT_SECONDS:g}s",
                CHECK_TIMEOUT_SECONDS,
            )
        except Exception as exc:
            status, detail, took = Status.DOWN, _reason(exc), time.perf_counter() - started
        results.append(CheckResult(name, status, detail, round(took * 1000, 1)))
    pool.shutdown(wait=False, cancel_futures=True)
    return results


def _timed(check: Callable[[], Outcome]) -> tuple[Outcome, float]:
    began = time.perf_counter()
    return check(), time.perf_counter() - began


def _reason(exc: Exception) -> str:
    if isinstance(exc, (ConfigurationError, PatroniUnreachable)):
        return exc.message.splitlines()[0]  # our own words: no password, and they say what is wrong
    text = f"{type(exc).__name__} {exc}".lower()
    if "authentication" in text or "password" in text or "noauth" in text or "wrongpass" in text:
        return "refused the credentials (check the passwords in the env file)"
    if isinstance(exc, OSError) or "connect" in text:
        return "connection refused or unreachable"
    return f"check failed ({type(exc).__name__})"


def overall(results: list[CheckResult]) -> Verdict:
    return verdict({r.name: r.status for r in results})


def report_json(results: list[CheckResult]) -> dict[str, object]:
    return {
        "status": overall(results),
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "checks": [asdict(r) for r in results],
        "pid": os.getpid(),
    }
