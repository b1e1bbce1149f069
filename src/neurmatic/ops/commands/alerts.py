"""``neurmatic alerts``: what Alertmanager holds (firing, silenced, inhibited), and its silences.

Every subcommand speaks Alertmanager's API v2. The deployment options may come before the subcommand
(``alerts --state-dir D silences``) or after it (``alerts silences --state-dir D``).
"""

from __future__ import annotations

import functools
import getpass
import json
import re
import socket
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from neurmatic.adapters.alertmanager import Alert, AlertmanagerApi, Matcher, Silence
from neurmatic.ops.commands.options import (
    DeploymentChoice,
    deployment_option,
    json_option,
    monitoring_option,
    monitoring_url,
    stdout_console,
)

console = stdout_console()
MAX_SILENCE = timedelta(days=30)
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
STATE_STYLES = {"firing": "bold red", "silenced": "dim", "inhibited": "dim", "unprocessed": "yellow"}


@dataclass(frozen=True)
class _Where:
    target: DeploymentChoice
    url: str | None

    def given(self) -> bool:
        return bool(self.url or self.target.env_file or self.target.state_dir)


def _where_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--env-file``, ``--state-dir`` and ``--alertmanager-url``, passed on as ``where``."""

    @functools.wraps(func)  # keeps the options already attached (click's __click_params__)
    def wrapper(*args: Any, target: DeploymentChoice, server_url: str | None, **kwargs: Any) -> Any:
        return func(*args, where=_Where(target, server_url), **kwargs)

    return deployment_option(monitoring_option("alertmanager")(wrapper))


def _api(where: _Where) -> AlertmanagerApi:
    """The Alertmanager of the subcommand's options, else of the group's."""
    parent = click.get_current_context().find_object(_Where)
    chosen = where if where.given() or parent is None else parent
    return AlertmanagerApi(monitoring_url("alertmanager", chosen.target, chosen.url))


class Duration(click.ParamType[timedelta]):
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m``: a positive length of time."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip()
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            self.fail(f"{value!r} is not a duration: write e.g. 30m, 2h, 1d or 1h30m", param, ctx)
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
        if seconds <= 0:
            self.fail("a silence must last some time", param, ctx)
        return timedelta(seconds=seconds)


def _matchers(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[Matcher]:
    try:
        return [Matcher.parse(value) for value in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.group(invoke_without_command=True)
@_where_options
@json_option
@click.pass_context
def alerts(ctx: click.Context, where: _Where, as_json: bool) -> None:
    """Alerts firing in Alertmanager (silenced and inhibited ones marked); its silences: `alerts silences`,
    `alerts silence MATCHER... --for 2h --comment TEXT`, `alerts expire ID`."""
    ctx.obj = where
    if ctx.invoked_subcommand is None:
        _print_alerts(_api(where), as_json)


@alerts.command("list")
@_where_options
@json_option
def list_alerts(where: _Where, as_json: bool) -> None:
    """Every alert Alertmanager holds: name, severity, instance, since, state, summary."""
    _print_alerts(_api(where), as_json)


@alerts.command("silences")
@_where_options
@json_option
@click.option("--all", "show_all", is_flag=True, help="Expired silences too.")
def silences(where: _Where, as_json: bool, show_all: bool) -> None:
    """The silences: id, matchers, until when, by whom and why."""
    kept = [s for s in _api(where).silences() if show_all or s.state != "expired"]
    if as_json:
        click.echo(json.dumps([s.as_json() for s in kept], indent=2))
        return
    if not kept:
        console.print("no silences")
        return
    console.print(_silence_table(kept))


@alerts.command("silence")
@_where_options
@click.argument("matchers", nargs=-1, required=True, callback=_matchers)
@click.option("--for", "duration", type=Duration(), default="2h", show_default=True, help="How long.")
@click.option("--comment", required=True, help="Why (the ticket, the maintenance).")
@click.option("--author", default=None, help="Who [default: user@host].")
def silence(
    where: _Where, matchers: list[Matcher], duration: timedelta, comment: str, author: str | None
) -> None:
    """Silence the alerts matching every MATCHER (name=value, name!=value, name=~regex, name!~regex; a bare
    word is an alertname) for a while; prints the silence's id."""
    if not comment.strip():
        raise click.BadParameter("say why (a ticket, the maintenance)", param_hint="--comment")
    if duration > MAX_SILENCE:
        raise click.BadParameter(
            f"at most {MAX_SILENCE.days} days: a longer silence hides the next incident", param_hint="--for"
        )
    api = _api(where)
    starts = datetime.now(UTC)
    silence_id = api.create_silence(
        matchers,
        starts_at=starts,
        ends_at=starts + duration,
        author=author or f"{getpass.getuser()}@{socket.gethostname()}",
        comment=comment,
    )
    click.echo(silence_id)
    click.echo(
        f"silenced {', '.join(map(str, matchers))} until {_local(starts + duration)} "
        f"(`neurmatic alerts expire {silence_id}` ends it)",
        err=True,
    )


@alerts.command("expire")
@_where_options
@click.argument("silence_id", metavar="ID")
def expire(where: _Where, silence_id: str) -> None:
    """End a silence now: its alerts notify again."""
    try:
        silence_id = str(uuid.UUID(silence_id))
    except ValueError:
        raise click.BadParameter(
            f"{silence_id!r} is not a silence id (see `neurmatic alerts silences`)", param_hint="ID"
        ) from None
    _api(where).expire(silence_id)
    click.echo(f"expired {silence_id}", err=True)


def _print_alerts(api: AlertmanagerApi, as_json: bool) -> None:
    held = api.alerts()
    if as_json:
        click.echo(json.dumps([a.as_json() for a in held], indent=2))
        return
    if not held:
        console.print(f"no alerts in {escape(api.base_url)}")
        return
    console.print(_alert_table(held))
    firing = sum(a.state == "firing" for a in held)
    console.print(f"{firing} firing, {len(held) - firing} silenced or inhibited", highlight=False)
    sys.stdout.flush()


def _table(*columns: str) -> Table:
    """Every column on one line but the last (a summary, a comment), which folds."""
    table = Table(box=None, pad_edge=False)
    for column in columns[:-1]:
        table.add_column(column, no_wrap=True)
    table.add_column(columns[-1], overflow="fold")
    return table


def _alert_table(held: list[Alert]) -> Table:
    table = _table("alert", "severity", "instance", "since", "state", "summary")
    for alert in held:
        style = STATE_STYLES.get(alert.state, "")
        table.add_row(  # what the server says is text, never Rich markup
            escape(alert.name),
            escape(alert.severity),
            escape(alert.instance),
            _local(alert.since),
            Text(alert.state, style=style),
            escape(alert.summary),
        )
    return table


def _silence_table(kept: list[Silence]) -> Table:
    table = _table("id", "matchers", "until", "state", "by", "comment")
    for s in kept:
        matchers = " ".join(map(str, s.matchers))
        fields = (s.id, matchers, _local(s.ends_at), s.state, s.created_by, s.comment)
        table.add_row(*(escape(field) for field in fields))
    return table


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")
