"""Point-in-time recovery of a whole deployment, as ``restore --to…`` and ``restore-table --to`` run it
and as the data drills rehearse it: the plan, the recovery beside the live cluster (``pitr.py``), then
either the swap or the named tables' lost rows brought back. No printing and no prompts here: progress
goes to ``step`` and the one confirmation to ``confirm``, so a command and a drill share every step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from neurmatic.deployment.archive import Step
from neurmatic.deployment.model import Deployment
from neurmatic.ops.flows.backups.history import Fork, read_forks, record_fork
from neurmatic.ops.flows.backups.pitr import (
    RecoveredCluster,
    Target,
    plan_recovery,
    recover_beside,
    recovery_beside,
)
from neurmatic.ops.flows.backups.restore_table import TablePlan, recover_tables

Confirm = Callable[[str], None]  # raises to refuse


def restore_cluster_to(
    deployment: Deployment,
    target: Target,
    *,
    database: str,
    step: Step,
    confirm: Confirm = lambda _question: None,
    repo: int | None = None,
) -> RecoveredCluster:
    """Recover the cluster to ``target`` beside the live one (from repository ``repo`` when given, else
    whichever holds the plan's backup), then, once ``confirm`` returns, make it the live one; the
    recovered cluster's description (its files are already the live ones, or removed)."""
    control = deployment.platform.archive()
    forks = read_forks(control.forks_file)
    plan = plan_recovery(control.pgbackrest(), deployment.admin, target, forks=forks, repo=repo)
    step(plan.describe())
    recovered = recover_beside(
        control, plan, superuser_password=deployment.admin.password or "", database=database, step=step
    )
    try:
        confirm(
            f"replace the live cluster with this one, recovered to {plan.target.describe()}? "
            "Everything written after that moment is gone from it"
        )
        control.swap_in(recovered.scratch.data_dir, step)
    finally:
        recovered.discard()
    branched_at = plan.target.time or plan.range.latest
    if branched_at is not None:  # an LSN target's moment is unknown: a later recovery follows the newest
        fork = Fork(recovered.timeline, recovered.parent_timeline, branched_at, datetime.now(UTC))
        record_fork(control.forks_file, fork)
    return recovered


def recover_tables_to(
    deployment: Deployment,
    target: Target,
    *,
    tables: list[str],
    database: str,
    dry_run: bool,
    overwrite: bool,
    step: Step,
) -> list[TablePlan]:
    """The cluster recovered to ``target`` beside the live one, and the named tables' lost rows brought
    back from it (the rest of production untouched)."""
    control = deployment.platform.archive()
    plan = plan_recovery(control.pgbackrest(), deployment.admin, target, forks=read_forks(control.forks_file))
    step(plan.describe())
    password = deployment.admin.password or ""
    with recovery_beside(
        control, plan, superuser_password=password, database=database, step=step
    ) as recovered:
        plans = recover_tables(
            recovered.source(database),
            admin=deployment.admin.pinned(),
            production=database,
            owner=deployment.app.user,
            tables=tables,
            dry_run=dry_run,
            overwrite=overwrite,
            step=step,
        )
    recovered.discard()  # stopped by now; on an error recovery_beside removed it
    return plans
