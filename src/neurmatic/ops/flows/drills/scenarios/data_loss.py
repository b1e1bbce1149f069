"""``data-loss``: the guide's "Data loss / corruption", rehearsed with its own recovery procedure.

The drill takes a backup (the "last known good backup") while its load runs, keeps writing, then
deletes every article of the drill user, as a mistaken ``DELETE`` would. The recovery is
``neurmatic restore-table`` from that backup: the rows come back beside everything written since.
Writes never stop (the RTO is about the API, which stays up); the recovery time is how long until the
lost rows are back, and the RPO is honest: what was acknowledged between the backup and the mistake
is gone, because no backup holds it.
"""

from __future__ import annotations

from psycopg import sql

from neurmatic.ops.flows.backups.context import BackupContext
from neurmatic.ops.flows.backups.dump import create_backup
from neurmatic.ops.flows.backups.restore_table import restore_tables
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.database import DRILL_EMAIL
from neurmatic.ops.flows.drills.registry import Scenario, register

WRITES_AFTER_BACKUP_SECONDS = 3.0


@register
class DataLoss(Scenario):
    name = "data-loss"
    summary = (
        "Back up, keep writing, then delete the drill user's articles (a mistaken DELETE); recover them "
        "with `neurmatic restore-table` from that backup. Writes after the backup are the RPO."
    )

    def __init__(self) -> None:
        self.deleted = 0
        self.recovered = 0

    def run(self, ctx: DrillContext) -> None:
        backups = BackupContext.of(ctx.deployment, ctx.control.reports_dir / "backups")
        ctx.recorder.mark_phase("backup")
        path, manifest = create_backup(backups.app, backups.directory)
        ctx.progress(f"last good backup: {path.name} ({manifest.tables.get('public.articles', 0)} articles)")
        ctx.hold(WRITES_AFTER_BACKUP_SECONDS, "writes after the backup")
        stage = ctx.inject(
            "rows-deleted", "DELETE every article of the drill user", lambda: self._delete(backups)
        )
        plans = restore_tables(
            path,
            admin=backups.admin,
            production=backups.app.dbname,
            owner=backups.app.user,
            tables=["articles"],
            dry_run=False,
            overwrite=False,
            scratch_dir=backups.safety_dir,
            step=ctx.progress,
        )
        self.recovered = plans[0].missing
        ctx.await_recovery(stage, lambda: True, f"restore-table put back {self.recovered} rows")
        ctx.await_service(stage)

    def _delete(self, backups: BackupContext) -> None:
        with backups.admin.with_db(backups.app.dbname).connect(autocommit=True) as conn:
            cursor = conn.execute(
                sql.SQL("DELETE FROM articles WHERE author_id = (SELECT id FROM users WHERE email = %s)"),
                (DRILL_EMAIL,),
            )
            self.deleted = cursor.rowcount

    def verify(self, ctx: DrillContext) -> None:
        ctx.check(
            "the rows in the backup came back",
            self.deleted > 0 and self.recovered > 0,
            f"{self.deleted} deleted, {self.recovered} restored from the backup",
        )
