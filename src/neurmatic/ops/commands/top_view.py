"""How ``neurmatic top`` draws a ``Snapshot``: Rich tables, one per concern; "-" where Prometheus has no
figure (a target not scraped yet, no request in the window)."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from neurmatic.ops.flows.monitoring.snapshot import Snapshot

NONE = "-"


def render(snapshot: Snapshot) -> RenderableType:
    return Group(
        _header(snapshot),
        _services(snapshot),
        _api(snapshot),
        _data(snapshot),
        _alerts(snapshot),
    )


def render_unreachable(url: str, message: str, since: datetime | None) -> RenderableType:
    """The frame while Prometheus does not answer (the live view keeps trying)."""
    last = f" (last answer {since.astimezone():%H:%M:%S})" if since else ""
    return Text(f"Prometheus at {url} does not answer{last}: {message}", style="bold red")


def _header(snapshot: Snapshot) -> Text:
    up = sum(t.up for t in snapshot.targets)
    style = "green" if up == len(snapshot.targets) else "bold red"
    header = Text(f"{snapshot.prometheus_url}  {snapshot.taken_at.astimezone():%H:%M:%S}  ")
    header.append(f"{up}/{len(snapshot.targets)} targets up", style=style)
    firing = len(snapshot.alerts)
    header.append(f"  {firing} alert{'s' * (firing != 1)} firing", style="bold red" if firing else "green")
    return header


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _services(snapshot: Snapshot) -> Table:
    table = _table("services", "job", "instance", "state")
    for target in snapshot.targets:
        where = f"{target.name} ({target.instance})" if target.name else target.instance
        table.add_row(escape(target.job), escape(where), "[green]up[/]" if target.up else "[bold red]down[/]")
    return table


def _api(snapshot: Snapshot) -> Table:
    table = _table("api", "instance", "req/s", "p95", "errors")
    for figures in snapshot.api:
        table.add_row(
            escape(figures.instance),
            _number(figures.requests_per_second, "{:.1f}"),
            _number(figures.p95_seconds and figures.p95_seconds * 1000, "{:.0f} ms"),
            _number(figures.error_ratio and figures.error_ratio * 100, "{:.2f} %"),
        )
    return table


def _data(snapshot: Snapshot) -> Table:
    table = _table("data", "what", "value")
    for standby in snapshot.standbys:
        table.add_row(escape(f"replication lag of {standby.standby}"), _bytes(standby.lag_bytes))
    if snapshot.replica_lag_seconds is not None:
        table.add_row("replica lag seen by the API", f"{snapshot.replica_lag_seconds:.1f} s")
    for queue, depth in snapshot.queue_depth.items():
        failed = snapshot.failed_jobs.get(queue)
        table.add_row(
            escape(f"queue {queue}"), _number(depth, "{:.0f}") + (f" ({failed:.0f} failed)" if failed else "")
        )
    table.add_row("last good backup", _age(snapshot.backup_age_seconds))
    for redis in snapshot.redis:
        limit = f" of {_bytes(redis.max_bytes)}" if redis.max_bytes else ""
        table.add_row(escape(f"redis memory {redis.instance}"), _bytes(redis.used_bytes) + limit)
    return table


def _alerts(snapshot: Snapshot) -> RenderableType:
    if not snapshot.alerts:
        return Text("no alerts firing", style="green")
    table = _table("alerts firing", "alert", "severity", "instance", "since", "summary")
    for alert in snapshot.alerts:
        since = f"{alert.since.astimezone():%H:%M:%S}" if alert.since else NONE
        style = "bold red" if alert.severity == "critical" else "yellow"
        table.add_row(
            Text(alert.name, style=style),
            escape(alert.severity),
            escape(alert.instance),
            since,
            escape(alert.summary),
        )
    return table


def _number(value: float | None, form: str) -> str:
    return NONE if value is None else form.format(value)


def _bytes(value: float | None) -> str:
    if value is None:
        return NONE
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return NONE  # unreachable: GiB ends the loop


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "none recorded"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min ago" if hours else f"{rest // 60} min {rest % 60} s ago"
