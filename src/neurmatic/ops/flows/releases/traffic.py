"""Is a freshly switched API instance serving well? Its own answers, and what nginx saw of it.

Two signals, both cheap: a short burst of requests straight to the instance (any 5xx fails it), and
the requests nginx's access log recorded for it since it rejoined the upstream: a 5xx answer, or an
answer nginx had to fetch from another instance instead (``upstream=a, b``), counts as an error. More
than :data:`ERROR_RATE_LIMIT` of them (the guide's "critical" error rate) fails the instance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

ERROR_RATE_LIMIT = 0.10  # the guide's alert thresholds: error rate > 10 % is critical
MIN_SAMPLE = 10  # below this many requests, one error is not yet a rate
PROBE_PATHS = ("/api/v1/health/ready", "/api/v1/health", "/api/v1/articles")
PROBES_PER_PATH = 3
# ... "GET /x HTTP/1.1" 200 123 "-" "ua" id=... upstream=127.0.0.1:18301, 127.0.0.1:18302 cache=MISS
_ENTRY = re.compile(r'" (?P<status>\d{3}) \d+ .* upstream=(?P<upstream>.*?) cache=')


@dataclass(frozen=True)
class Tally:
    total: int = 0
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.errors / self.total if self.total else 0.0


def tally(lines: Iterable[str], address: str) -> Tally:
    """The requests of ``lines`` that reached ``address``, and how many of them failed there."""
    total = errors = 0
    for line in lines:
        match = _ENTRY.search(line)
        if not match:
            continue
        tried = [part.strip() for part in re.split(r",| : ", match["upstream"]) if part.strip()]
        if address not in tried:
            continue
        total += 1
        if int(match["status"]) >= 500 or tried[-1] != address:
            errors += 1
    return Tally(total, errors)


def error_rate_exceeded(
    result: Tally, *, limit: float = ERROR_RATE_LIMIT, min_sample: int = MIN_SAMPLE
) -> bool:
    """True when the errors exceed ``limit`` of the requests (counting at least ``min_sample``)."""
    return result.errors > 0 and result.errors / max(result.total, min_sample) > limit


class AccessLog:
    """nginx's access log, read from an offset (a rotated, shorter file is read from its start)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def offset(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def lines_since(self, offset: int) -> list[str]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(offset if offset <= self.path.stat().st_size else 0)
                return handle.read().decode(errors="replace").splitlines()
        except OSError:
            return []


def probe_instance(address: str, *, timeout: float = 5.0) -> str | None:
    """A burst of requests straight to the instance at ``address`` (``host:port``); what went wrong, or
    None."""
    with httpx.Client(base_url=f"http://{address}", timeout=timeout) as client:
        for path in PROBE_PATHS:
            for _ in range(PROBES_PER_PATH):
                try:
                    status = client.get(path).status_code
                except httpx.HTTPError as exc:
                    return f"GET {path} failed: {type(exc).__name__}"
                if status >= 500:
                    return f"GET {path} answered {status}"
    return None
