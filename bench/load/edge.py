"""What the servers saw during the run, from the lines their logs gained: nginx's distinct client addresses
(each simulated user must arrive from its own), its statuses, its request and upstream times (p95: was the
time spent in the servers or in the load generator?), and the messages of nginx's error log and the API
instances' warnings and errors by kind (where failures come from: rate limits, upstream timeouts, too
few worker connections...)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# log_format neurmatic: '$remote_addr - $remote_user [$time_local] "$request" $status ...'
_ACCESS = re.compile(
    r'^(?P<addr>\S+) \S+ \S+ \[[^]]*\] "[^"]*" (?P<status>\d{3}) '
    r".* rt=(?P<rt>[\d.]+) .* urt=(?P<urt>[\d.]+|-)"
)
_API_PROBLEM = re.compile(r'"level": ?"(?:warning|error|critical)"')
# '2026/11/26 12:00:00 [error] 123#123: *45 upstream timed out (110: ...) while reading ..., client: ...'
_ERROR = re.compile(r"^\S+ \S+ \[(?P<level>\w+)\] \d+#\d+: (?:\*\d+ )?(?P<message>.*?)(?:, client: .*)?$")
_NUMBERS = re.compile(r"\d+")


class LogTail:
    """The bytes a log file gains from now on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def lines(self) -> Iterable[str]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as file:
            if file.seek(0, 2) < self.offset:
                self.offset = 0  # rotated
            file.seek(self.offset)
            for raw in file:
                yield raw.decode(errors="replace").rstrip("\n")


def _error_kind(message: str) -> str:
    """The message without what varies between occurrences (numbers, the request)."""
    message = message.split(" while ", 1)[0].split(', request: "', 1)[0]
    return _NUMBERS.sub("N", message)[:90]


def _p95_ms(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return 1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else 0.0


@dataclass
class ServerLogs:
    """The tails of nginx's access and error logs and of the API instances' logs."""

    access: LogTail
    error: LogTail
    api: list[LogTail]

    @classmethod
    def start(cls, state_dir: Path) -> ServerLogs:
        nginx = state_dir / "nginx" / "logs"
        api = [LogTail(path) for path in sorted((state_dir / "logs").glob("backend-*.log"))]
        return cls(LogTail(nginx / "access.log"), LogTail(nginx / "error.log"), api)

    def report(self) -> EdgeReport:
        report = EdgeReport()
        for line in self.access.lines():
            if match := _ACCESS.match(line):
                report.addresses.add(match["addr"])
                report.statuses[int(match["status"])] += 1
                report.request_times.append(float(match["rt"]))
                if match["urt"] != "-":
                    report.upstream_times.append(float(match["urt"]))
        for line in self.error.lines():
            if match := _ERROR.match(line):
                report.errors[f"nginx [{match['level']}] {_error_kind(match['message'])}"] += 1
        for tail in self.api:
            for line in tail.lines():
                if _API_PROBLEM.search(line):
                    report.errors[_api_kind(line)] += 1
        return report


def _api_kind(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return "api: " + line[:80]
    message = _NUMBERS.sub("N", str(record.get("message")))[:80]
    return f"api [{record.get('level')}] {record.get('logger')}: {message}"


@dataclass
class EdgeReport:
    addresses: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    request_times: list[float] = field(default_factory=list)  # seconds, as nginx logs them
    upstream_times: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)  # "<source> [level] kind" -> lines

    def lines(self) -> Iterable[str]:
        statuses = "  ".join(f"{status} x{n}" for status, n in sorted(self.statuses.items()))
        yield f"nginx: {len(self.addresses)} distinct client addresses; statuses {statuses or 'none'}"
        yield (
            f"  p95 ms as nginx timed it: request {_p95_ms(self.request_times):.0f}"
            f"  upstream (the API) {_p95_ms(self.upstream_times):.0f}"
        )
        for kind, count in self.errors.most_common(10):
            yield f"  log x{count}: {kind}"

    def as_dict(self) -> dict[str, object]:
        return {
            "client_addresses": len(self.addresses),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "request_p95_ms": round(_p95_ms(self.request_times), 1),
            "upstream_p95_ms": round(_p95_ms(self.upstream_times), 1),
            "log_messages": dict(self.errors.most_common(20)),
        }
