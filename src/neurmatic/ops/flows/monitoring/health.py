"""``neurmatic health``: every check runs, each with its own timeout, even when others fail.

A check answers ``ok``, ``warn`` or ``fail`` with a short detail in our own words. The checks read the
topology of a state directory: the API through the load balancer (the public verdict) and each backend
directly (its whole component report, which only the internal network gets), PostgreSQL
(primary read-write, standby lag), Redis (master with its password, replica link), the Sentinels' view and
quorum, queue depth and failed jobs, disk, memory, TLS certificate expiry and backup freshness.
"""

from __future__ import annotations

import os
import shutil
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from cryptography import x509

from neurmatic.adapters.postgres import is_in_recovery, query
from neurmatic.adapters.redis import direct
from neurmatic.backup_status import BackupStatus
from neurmatic.domain.jobs import ALL_QUEUES, QueueKeys
from neurmatic.errors import TopologyError
from neurmatic.ops.flows.backups.files import local_backups
from neurmatic.supervisor.layout import HOST, SENTINEL_MASTER_NAME
from neurmatic.supervisor.services.postgres import PostgresNode, superuser_endpoint
from neurmatic.supervisor.state import TopologyState

CHECK_TIMEOUT_SECONDS = 5.0
DISK_WARN, DISK_FAIL = 85.0, 95.0
MEMORY_WARN, MEMORY_FAIL = 85.0, 95.0
CERT_WARN_DAYS = 14
BACKUP_WARN_HOURS = 26
REPLICA_LAG_WARN_BYTES = 16 * 1024 * 1024


@dataclass
class CheckResult:
    name: str
    status: str  # ok | warn | fail
    detail: str
    duration_ms: float = 0.0


Outcome = tuple[str, str]


def _api(state: TopologyState, url: str, verify: ssl.SSLContext | bool) -> Outcome:
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
        return "fail", f"HTTP {response.status_code}" + (f", {summary}" if status else "")
    return ("ok" if status in ("healthy", "ready", "alive") else "warn"), summary


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


def _postgres(state: TopologyState, index: int) -> Outcome:
    endpoint = superuser_endpoint(state, index)
    try:
        in_recovery = is_in_recovery(endpoint, timeout=3)
    except TopologyError:
        node = PostgresNode(state, index)
        if node.is_fenced and node.running_pid() is None:
            # Stopped on purpose by a failover: the service runs on the other node, without a standby.
            return "warn", f"{node.fence_reason()}; no standby until `neurmatic standby rebuild`"
        raise
    if not in_recovery:
        return "ok", "primary, read-write"
    rows = query(
        endpoint,
        "SELECT pg_last_wal_receive_lsn() IS NOT NULL, "
        "COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)",
    )
    streaming, lag = bool(rows[0][0]), int(rows[0][1])
    if not streaming:
        return "fail", "standby without a WAL stream"
    return ("warn" if lag > REPLICA_LAG_WARN_BYTES else "ok"), f"standby, replay lag {lag} bytes"


def _redis(state: TopologyState, index: int) -> Outcome:
    client = direct(HOST, state.ports.redis(index), state.secrets["REDIS_PASSWORD"], timeout=3)
    try:
        info = client.info("replication")
    finally:
        client.close()
    if info.get("role") == "master":
        return "ok", f"master, {info.get('connected_slaves', 0)} replica(s)"
    link = info.get("master_link_status")
    return ("ok" if link == "up" else "fail"), f"replica, link {link}"


def _sentinels(state: TopologyState) -> Outcome:
    seen = 0
    for index in (1, 2, 3):
        client = direct(
            HOST, state.ports.sentinel(index), state.secrets["REDIS_SENTINEL_PASSWORD"], timeout=2
        )
        try:
            client.execute_command("SENTINEL", "CKQUORUM", SENTINEL_MASTER_NAME)  # type: ignore[no-untyped-call]
            seen += 1
        except Exception:  # noqa: S112 - one unreachable Sentinel is counted, not fatal
            continue
        finally:
            client.close()
    if seen >= 2:
        return ("ok" if seen == 3 else "warn"), f"{seen}/3 Sentinels with quorum"
    return "fail", f"{seen}/3 Sentinels: no quorum, no failover possible"


def _queues(state: TopologyState) -> Outcome:
    from neurmatic.adapters.redis import sync_master
    from neurmatic.supervisor.services.app import app_settings

    client = sync_master(app_settings(state).redis)
    try:
        depth = sum(int(client.llen(QueueKeys.of(q).jobs)) for q in ALL_QUEUES)
        failed = sum(int(client.zcard(QueueKeys.of(q).failed)) for q in ALL_QUEUES)
        workers = len(list(client.scan_iter(match="neurmatic:workers:*", count=100)))
    finally:
        client.close()
    status = "fail" if workers == 0 else "warn" if depth > 100 or failed > 50 else "ok"
    return status, f"{workers} worker(s), {depth} waiting, {failed} failed"


def _threshold(used: float, warn: float, fail: float, what: str) -> Outcome:
    return ("fail" if used >= fail else "warn" if used >= warn else "ok"), f"{what} {used:.0f}% used"


def _disk(path: Path) -> Outcome:
    usage = shutil.disk_usage(path)
    return _threshold(usage.used * 100 / usage.total, DISK_WARN, DISK_FAIL, "disk")


def _certificate(path: Path) -> Outcome:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    days = (cert.not_valid_after_utc - datetime.now(UTC)).days
    return ("fail" if days < 0 else "warn" if days < CERT_WARN_DAYS else "ok"), f"expires in {days} days"


def _backup_freshness(directory: Path) -> Outcome:
    """Age of the last good backup: its record when there is one, else the newest backup file."""
    recorded = BackupStatus.read(directory)
    if recorded is not None:
        finished = recorded.timestamp
    else:
        backups = local_backups(directory)
        if not backups:
            return "warn", "no backup yet"
        finished = backups[0].stat().st_mtime
    age_hours = (time.time() - finished) / 3600
    verified = ", verified" if recorded and recorded.verified else ""
    status = "warn" if age_hours > BACKUP_WARN_HOURS else "ok"
    return status, f"last good backup {age_hours:.1f} h ago{verified}"


def checks_for(state: TopologyState, backup_dir: Path) -> dict[str, Callable[[], Outcome]]:
    context = ssl.create_default_context(cafile=str(state.paths.tls / "ca.pem"))
    checks: dict[str, Callable[[], Outcome]] = {
        "api (load balancer)": lambda: _api(
            state, f"https://{HOST}:{state.ports.https}/api/v1/health", context
        ),
    }
    for index in range(1, state.api_instances + 1):
        report = f"http://{HOST}:{state.ports.api(index)}/api/v1/health"
        checks[f"backend-{index}"] = (lambda url: lambda: _api(state, url, False))(report)
    for index in (1, 2):
        checks[f"postgres-{index}"] = (lambda i: lambda: _postgres(state, i))(index)
        checks[f"redis-{index}"] = (lambda i: lambda: _redis(state, i))(index)
    checks["sentinels"] = lambda: _sentinels(state)
    checks["queues"] = lambda: _queues(state)
    checks["disk"] = lambda: _disk(state.paths.root)
    checks["memory"] = lambda: _threshold(psutil.virtual_memory().percent, MEMORY_WARN, MEMORY_FAIL, "memory")
    checks["tls certificate"] = lambda: _certificate(state.paths.tls / "server.pem")
    checks["backups"] = lambda: _backup_freshness(backup_dir)
    return checks


def run_checks(checks: dict[str, Callable[[], Outcome]]) -> list[CheckResult]:
    """Run every check concurrently, each bounded by its own timeout; a raising check is a failure."""
    results: list[CheckResult] = []
    with ThreadPoolExecutor(max_workers=min(16, len(checks) or 1)) as pool:
        started = {name: (pool.submit(check), time.perf_counter()) for name, check in checks.items()}
        for name, (future, began) in started.items():
            try:
                remaining = max(0.1, CHECK_TIMEOUT_SECONDS - (time.perf_counter() - began))
                status, detail = future.result(timeout=remaining)
            except FutureTimeout:
                status, detail = "fail", f"no answer within {CHECK_TIMEOUT_SECONDS:g}s"
            except Exception as exc:
                status, detail = "fail", _reason(exc)
            results.append(CheckResult(name, status, detail, round((time.perf_counter() - began) * 1000, 1)))
    return results


def _reason(exc: Exception) -> str:
    name = type(exc).__name__
    if isinstance(exc, OSError) or "connect" in f"{name} {exc}".lower():
        return "connection refused or unreachable"
    return f"check failed ({name})"


def verdict(results: list[CheckResult]) -> str:
    statuses = {r.status for r in results}
    return "unhealthy" if "fail" in statuses else "degraded" if "warn" in statuses else "healthy"


def report_json(results: list[CheckResult]) -> dict[str, object]:
    return {
        "status": verdict(results),
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "checks": [asdict(r) for r in results],
        "pid": os.getpid(),
    }
