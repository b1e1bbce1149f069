"""``neurmatic failover db [--switchover] | failover redis`` and ``neurmatic standby rebuild``."""

from __future__ import annotations

import json

import click
from rich.console import Console

from neurmatic.deployment.failover import Progress
from neurmatic.ops.commands.options import DeploymentChoice, confirm, deployment_option, json_option
from neurmatic.ops.flows.failover.orchestrate import (
    database_failover,
    failover_database,
    failover_redis,
    rebuild_standby,
)

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _progress() -> Progress:
    """Steps go to stderr (stdout stays the summary, or pure JSON)."""
    return lambda message: err.print(f"[dim]•[/] {message}", highlight=False)


@click.group()
def failover() -> None:
    """Move the PostgreSQL primary or the Redis master to the other node."""


@failover.command("db")
@deployment_option
@json_option
@click.option(
    "--switchover",
    is_flag=True,
    help="Planned (Patroni's switchover): stop the leader cleanly, lose no commit, make it the standby.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Promote a standby that is not the synchronous one (commits only the old leader had are lost).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def failover_db(target: DeploymentChoice, as_json: bool, switchover: bool, force: bool, yes: bool) -> None:
    """Ask Patroni to promote the synchronous standby now (Patroni's failover; it refuses a standby that
    may lack acknowledged commits). Patroni demotes the old leader and rewinds it into a replica. Patroni
    fails over by itself when the leader dies: this is for an operator who wants the move now."""
    deployment = target.load()
    engine = database_failover(deployment, _progress())  # refused (exit 3) when no Patroni is named
    question = (
        "Switch the PostgreSQL leader over to the standby (writes pause for a few seconds)?"
        if switchover
        else "Fail the PostgreSQL leader over to the standby now, without a clean stop of the leader "
        "(--switchover is the planned, graceful move)?"
    )
    confirm(question, yes=yes)
    if force and switchover:
        raise click.UsageError("--force is for a failover; a switchover never promotes a lagging standby")
    result = failover_database(deployment, switchover=switchover, force=force, engine=engine)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    console.print(
        f"{result.method}: {result.old_primary} → {result.new_primary} in {result.elapsed_seconds:.1f}s "
        f"(promoted at {result.promoted_at_lsn})",
        highlight=False,
    )
    if result.old_primary_now == "none":
        console.print("  there was no running leader before", highlight=False)
    elif result.old_primary_now == "standby":
        console.print(f"  {result.old_primary} streams as a standby again (Patroni)", highlight=False)
    else:
        console.print(
            f"  {result.old_primary} is {result.old_primary_now}; `neurmatic standby rebuild` "
            "reinitializes it if it does not come back",
            highlight=False,
        )


@failover.command("redis")
@deployment_option
@json_option
@click.option("--timeout", type=click.FloatRange(1, 600), default=30.0, show_default=True, help="Seconds.")
def failover_redis_command(target: DeploymentChoice, as_json: bool, timeout: float) -> None:
    """Ask Sentinel to fail the Redis master over; wait until every Sentinel agrees on the new one."""
    result = failover_redis(target.load(), timeout=timeout, progress=_progress())
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    console.print(
        f"redis failover: {result.old_master} → {result.new_master} in {result.elapsed_seconds:.1f}s; "
        f"{result.sentinels_agreeing} Sentinel(s) agree; the old master is {result.old_master_now}",
        highlight=False,
    )


@click.group()
def standby() -> None:
    """The PostgreSQL standby."""


@standby.command("rebuild")
@deployment_option
@json_option
def standby_rebuild(target: DeploymentChoice, as_json: bool) -> None:
    """Make a standby that does not stream a streaming standby again: Patroni's reinitialize (a fresh
    base backup of the leader). A standby that streams is left alone. Asks nothing: a node that does
    not stream holds nothing the leader lacks that a client was told is committed."""
    result = rebuild_standby(target.load(), progress=_progress())
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    if result.method == "none":
        console.print(
            f"{result.node} already streams from {result.primary}; nothing rebuilt", highlight=False
        )
        return
    console.print(
        f"{result.node}: streaming standby of {result.primary} again, by {result.method} "
        f"in {result.elapsed_seconds:.1f}s",
        highlight=False,
    )
