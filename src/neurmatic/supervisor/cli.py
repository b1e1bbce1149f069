"""``neurmatic up | down | status | logs``: the local production topology."""

from __future__ import annotations

import collections
import contextlib
import json
import time
from pathlib import Path
from typing import TextIO

import click
from rich.console import Console
from rich.table import Table

from neurmatic.cli_options import json_option, state_dir_option
from neurmatic.errors import TopologyNotRunningError
from neurmatic.supervisor import runner
from neurmatic.supervisor.layout import MAX_API_INSTANCES, Paths
from neurmatic.supervisor.service import ServiceStatus
from neurmatic.supervisor.state import TopologyState
from neurmatic.supervisor.topology import Topology

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _status_table(rows: list[ServiceStatus]) -> Table:
    table = Table(show_header=True, header_style="bold")
    for column in ("service", "role", "address", "pid", "state", "detail"):
        table.add_column(column)
    colours = {"ready": "green", "stopped": "dim", "unhealthy": "red"}
    for row in rows:
        address = f"{row.host}:{row.port}" if row.port else "-"
        state = f"[{colours.get(row.state, 'yellow')}]{row.state}[/]"
        table.add_row(row.name, row.role or "-", address, str(row.pid or "-"), state, row.detail)
    return table


def _print_urls(topology: Topology) -> None:
    for name, url in topology.urls().items():
        console.print(f"  {name:15} {url}", highlight=False)


@click.command()
@state_dir_option
@click.option(
    "--base-port",
    type=click.IntRange(1024, 65535 - 450),
    default=None,
    help="Move every port of the topology: https is BASE+443 [default: 18000].",
)
@click.option(
    "--api-instances",
    type=click.IntRange(2, MAX_API_INSTANCES),
    default=2,
    show_default=True,
    help="API instances behind nginx (only when the topology is first created).",
)
@click.option(
    "--secrets-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Create the new state directory with these secrets (a secrets.env kept off the server).",
)
@click.option(
    "--web-concurrency",
    type=click.IntRange(0, 64),
    default=None,
    help="Worker processes per API instance, kept for later `up`s (0: one per core, up to 4) "
    "[default: as before, else one per core]. Running instances keep theirs until restarted.",
)
def up(
    state_dir: Path,
    base_port: int | None,
    api_instances: int,
    secrets_file: Path | None,
    web_concurrency: int | None,
) -> None:
    """Bring the whole production topology up on 127.0.0.1 (or what is not running yet)."""
    state = runner.open_or_create(
        state_dir, base_port=base_port, api_instances=api_instances, secrets_file=secrets_file
    )
    if web_concurrency is not None:
        state = state.with_web_concurrency(web_concurrency or None)
    started = time.monotonic()
    topology = runner.up(state, progress=lambda msg: err.print(f"[dim]•[/] {msg}", highlight=False))
    console.print(_status_table(runner.status(state)))
    console.print(f"topology ready in {time.monotonic() - started:.1f}s; state in {state.paths.root}")
    _print_urls(topology)


@click.command()
@state_dir_option
def down(state_dir: Path) -> None:
    """Stop every service in reverse order: gracefully, then forcibly."""
    if not Paths(state_dir).topology_file.exists():
        err.print(f"nothing to stop: no topology in {state_dir}")
        return
    runner.down(
        TopologyState.load(state_dir), progress=lambda msg: err.print(f"[dim]•[/] {msg}", highlight=False)
    )
    console.print("topology stopped")


@click.command()
@state_dir_option
@json_option
def status(state_dir: Path, as_json: bool) -> None:
    """Each service with its current role, address, pid and state. Exit 8 when nothing runs."""
    state = TopologyState.load(state_dir)
    rows = runner.status(state)
    if as_json:
        click.echo(
            json.dumps(
                {"services": [row.as_dict() for row in rows], "urls": Topology(state).urls()}, indent=2
            )
        )
    else:
        console.print(_status_table(rows))
        _print_urls(Topology(state))
    if all(row.state == "stopped" for row in rows):
        raise TopologyNotRunningError(
            f"no service of {state_dir} is running", hint="start it with `neurmatic up`"
        )


@click.command()
@state_dir_option
@click.argument("service")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@click.option("-n", "--lines", type=int, default=100, show_default=True, help="How many past lines.")
def logs(state_dir: Path, service: str, follow: bool, lines: int) -> None:
    """Print a service's log (postgres-1, redis-2, sentinel-3, backend-1, worker, watcher, ...); for nginx,
    its output, then its error log, then its access log (each under a ``==> file <==`` header)."""
    state = TopologyState.load(state_dir)
    files = _log_files(state, service)
    present = [path for path in files if path.exists()]
    if not present:
        err.print(f"{service} has no log yet ({files[0]})")
        return
    _print_logs(present, lines=lines, follow=follow, headers=len(files) > 1)


def _log_files(state: TopologyState, service: str) -> list[Path]:
    if service == "watcher":  # not a server of the topology, but it logs beside them
        return [state.paths.log(service)]
    topology = Topology(state)
    known = [s.name for s in topology.services()]
    if service not in known:
        raise click.BadParameter(
            f"no service named {service!r}; the services are: {', '.join([*known, 'watcher'])}",
            param_hint="SERVICE",
        )
    return topology.service(service).log_files()


def _print_logs(paths: list[Path], *, lines: int, follow: bool, headers: bool) -> None:
    """The last ``lines`` of each file, then (``follow``) new lines as they come, like ``tail [-f]``."""
    with contextlib.ExitStack() as stack:
        handles = [(path, stack.enter_context(path.open("r", errors="replace"))) for path in paths]
        shown: Path | None = None
        for path, handle in handles:
            if headers:
                _header(path, first=shown is None)
            shown = path
            for line in collections.deque(handle, maxlen=max(lines, 0)):  # bounded: access logs grow
                click.echo(line, nl=False)
        while follow:
            idle = True
            for path, handle in handles:
                _reread_if_rotated(path, handle)
                for line in iter(handle.readline, ""):
                    if headers and path != shown:
                        _header(path, first=False)
                        shown = path
                    click.echo(line, nl=False)
                    idle = False
            if idle:
                time.sleep(0.25)


def _reread_if_rotated(path: Path, handle: TextIO) -> None:
    """The watcher rotates a log by copying and truncating it: read the cut file from its start again."""
    with contextlib.suppress(OSError):
        if path.stat().st_size < handle.tell():
            handle.seek(0)


def _header(path: Path, *, first: bool) -> None:
    click.echo(f"==> {path} <==" if first else f"\n==> {path} <==")


@click.command(hidden=True)
@state_dir_option
def supervise(state_dir: Path) -> None:
    """The watcher's process (started by `up`): restarts crashed API instances and the worker."""
    from neurmatic.logging import configure_logging
    from neurmatic.supervisor.watcher import Watcher

    configure_logging("watcher")
    Watcher(TopologyState.load(state_dir)).run_forever()
