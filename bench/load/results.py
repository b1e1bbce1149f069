"""Locust's figures, read from the CSV files of ``--csv PREFIX``: requests, req/s, p50/p95/p99 overall and
per action, failures by kind."""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# r.failure("HTTP 429") is stored as "CatchResponseError('HTTP 429')"; other errors as their repr.
_CATCH = re.compile(r"^CatchResponseError\(['\"](?P<kind>.*)['\"]\)$")
_EXCEPTION = re.compile(r"^(?P<kind>[A-Za-z_.]+)\(")


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def parse(cls, row: dict[str, str]) -> Row:
        def number(key: str) -> float:
            value = row.get(key) or "0"
            return float(value) if value != "N/A" else 0.0

        return cls(
            name=row["Name"],
            method=row["Type"],
            requests=int(row["Request Count"]),
            failures=int(row["Failure Count"]),
            rps=number("Requests/s"),
            p50=number("50%"),
            p95=number("95%"),
            p99=number("99%"),
            max=number("Max Response Time"),
        )


def error_kind(error: str) -> str:
    """``HTTP 502``, ``ConnectionResetError``, ``timeout``...: what went wrong, without the URL."""
    if match := _CATCH.match(error):
        return match["kind"]
    if match := _EXCEPTION.match(error):
        return match["kind"].rsplit(".", 1)[-1]
    return error[:60]


@dataclass
class Results:
    total: Row
    actions: list[Row]
    errors: Counter[str] = field(default_factory=Counter)  # kind -> occurrences
    errors_by_action: dict[str, Counter[str]] = field(default_factory=dict)
    user_exceptions: int = 0  # bugs of the scenario itself (tracebacks in the Locust log)

    @property
    def error_percent(self) -> float:
        return 100 * self.total.failures / max(self.total.requests, 1)

    @classmethod
    def read(cls, prefix: Path) -> Results:
        with open(f"{prefix}_stats.csv", newline="") as file:
            rows = [Row.parse(row) for row in csv.DictReader(file)]
        total = next(row for row in rows if row.name == "Aggregated")
        results = cls(total, [row for row in rows if row.name != "Aggregated"])
        with open(f"{prefix}_failures.csv", newline="") as file:
            for row in csv.DictReader(file):
                kind, count = error_kind(row["Error"]), int(row["Occurrences"])
                results.errors[kind] += count
                results.errors_by_action.setdefault(kind, Counter())[row["Name"]] += count
        exceptions = Path(f"{prefix}_exceptions.csv")
        if exceptions.exists():
            with open(exceptions, newline="") as file:
                results.user_exceptions = sum(int(row["Count"]) for row in csv.DictReader(file))
        return results

    def lines(self) -> Iterable[str]:
        t = self.total
        yield (
            f"requests {t.requests}  {t.rps:.0f} req/s  failed {t.failures} ({self.error_percent:.2f} %)"
            f"  latency ms: p50 {t.p50:.0f}  p95 {t.p95:.0f}  p99 {t.p99:.0f}  max {t.max:.0f}"
        )
        yield f"  {'action':<24}{'requests':>9}{'failed':>8}{'p50':>7}{'p95':>7}{'p99':>7}"
        for row in sorted(self.actions, key=lambda r: -r.requests):
            yield (
                f"  {row.name:<24}{row.requests:>9}{row.failures:>8}"
                f"{row.p50:>7.0f}{row.p95:>7.0f}{row.p99:>7.0f}"
            )
        if self.errors:
            yield "errors by kind:"
            for kind, count in self.errors.most_common():
                where = ", ".join(f"{name} {n}" for name, n in self.errors_by_action[kind].most_common(4))
                yield f"  {kind:<24}{count:>7}  ({where})"
        if self.user_exceptions:
            yield f"scenario exceptions: {self.user_exceptions} (see the Locust log)"

    def as_dict(self) -> dict[str, object]:
        t = self.total
        return {
            "requests": t.requests,
            "failures": t.failures,
            "error_percent": round(self.error_percent, 3),
            "rps": round(t.rps, 1),
            "latency_ms": {"p50": t.p50, "p95": t.p95, "p99": t.p99, "max": t.max},
            "actions": {
                row.name: {"requests": row.requests, "failures": row.failures, "p95": row.p95}
                for row in self.actions
            },
            "errors": dict(self.errors),
            "scenario_exceptions": self.user_exceptions,
        }
