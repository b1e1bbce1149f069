"""A real Alertmanager and a real Prometheus, started by a test on a loopback port in a temporary
directory (no cluster, no remote write), awaited by their own readiness endpoint and stopped after."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.support import require_binary

READY_SECONDS = 30


@contextmanager
def running_alertmanager(config: Path, workdir: Path, port: int) -> Iterator[str]:
    """Alertmanager with ``config`` on 127.0.0.1:``port``; yields its URL."""
    binary = require_binary("prometheus-alertmanager", "/usr/bin/alertmanager")
    flags = [f"--storage.path={workdir}", "--cluster.listen-address="]
    with _serving("Alertmanager", [binary, f"--config.file={config}", *flags], workdir, port) as url:
        yield url


@contextmanager
def running_prometheus(config: Path, workdir: Path, port: int) -> Iterator[str]:
    """Prometheus with ``config`` on 127.0.0.1:``port``, its TSDB in ``workdir``; yields its URL."""
    binary = require_binary("prometheus", "/usr/bin/prometheus")
    flags = [f"--storage.tsdb.path={workdir / 'tsdb'}"]
    with _serving("Prometheus", [binary, f"--config.file={config}", *flags], workdir, port) as url:
        yield url


@contextmanager
def _serving(what: str, argv: list[str], workdir: Path, port: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    log = workdir / f"{what.lower()}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*argv, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, f"{what} exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"{what} not ready in {READY_SECONDS} s: {log.read_text()}"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def post_alerts(url: str, *alerts: dict[str, str], summary: str = "") -> None:
    """Send ``alerts`` (label sets) to Alertmanager as firing now, as Prometheus would."""
    starts = datetime.now(UTC).isoformat()
    ends = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    annotations = {"summary": summary} if summary else {}
    body = [{"labels": a, "annotations": annotations, "startsAt": starts, "endsAt": ends} for a in alerts]
    httpx.post(f"{url}/api/v2/alerts", json=body, timeout=5).raise_for_status()
