"""``data-loss``: the guide's "Data loss / corruption", rehearsed with point-in-time recovery.

While the load writes, every article of the drill user is deleted, as a mistaken ``DELETE`` would. The
recovery is ``neurmatic restore-table --to <the moment before the DELETE>``: the cluster is recovered
from the WAL archive beside the live one to that moment, and the deleted rows come back beside
everything written since. Nothing committed before the DELETE may be lost: the runner checks every
acknowledged write (RPO 0). Writes never stop, but the service is whole only when the rows are back,
so the RTO runs from the DELETE until then.

No logical-backup fallback: every platform that can run drills archives WAL (a deployment without one
refuses drills altogether), so a fallback would only rehearse the procedure nobody should use.
"""

from __future__ import annotations

import time
from datetime import datetime

import psycopg
from psycopg import sql

from neurmatic.adapters.pgbackrest import PgBackRestError
from neurmatic.ops.flows.backups.pitr import Target
from neurmatic.ops.flows.backups.point_in_time import recover_tables_to
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.database import DRILL_EMAIL
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.registry import Scenario, register

WRITES_BEFORE_DAMAGE_SECONDS = 3.0
_DELETE_ATTEMPTS = 5  # a repeatable-read DELETE that met a concurrent write is tried again
DELETE_DRILL_ARTICLES = sql.SQL(
    "DELETE FROM articles WHERE author_id = (SELECT id FROM users WHERE email = %s)"
)


@register
class DataLoss(Scenario):
    name = "data-loss"
    summary = (
        "Delete the drill user's articles while writes go on (a mistaken DELETE); recover them with "
        "`neurmatic restore-table --to <the moment before>` from the WAL archive: no committed row lost."
    )
    loses_no_writes = True
    rto_until_restored = True

    def __init__(self) -> None:
        self.deleted = 0
        self.recovered = 0
        self.before_damage: datetime | None = None

    def check_ready(self, ctx: DrillContext) -> None:
        try:
            info = ctx.deployment.platform.archive().pgbackrest().info()
        except PgBackRestError as exc:
            raise DrillPreconditionFailed(
                f"data-loss recovers from the WAL archive, which does not answer: {exc}",
                hint="check `neurmatic backup list --physical`",
            ) from exc
        if not info.backups:
            raise DrillPreconditionFailed(
                "data-loss recovers from the WAL archive, and it holds no physical backup to start from",
                hint="take one with `neurmatic backup --physical`",
            )

    def run(self, ctx: DrillContext) -> None:
        ctx.hold(WRITES_BEFORE_DAMAGE_SECONDS, "writes before the damage")
        stage = ctx.inject(
            "rows-deleted", "DELETE every article of the drill user", lambda: self._delete(ctx)
        )
        assert self.before_damage is not None  # _delete
        ctx.progress(f"recovering the articles as they were at {self.before_damage.isoformat(sep=' ')}")
        plans = recover_tables_to(
            ctx.deployment,
            Target("time", time=self.before_damage),
            tables=["articles"],
            database=ctx.deployment.app.dbname,
            dry_run=False,
            overwrite=False,
            step=ctx.progress,
        )
        self.recovered = plans[0].missing
        ctx.await_recovery(stage, lambda: True, f"restore-table --to put back {self.recovered} rows")
        ctx.await_service(stage)

    def _delete(self, ctx: DrillContext) -> None:
        """The mistaken DELETE, with the moment just before it as the recovery target.

        The moment is read inside the DELETE's own repeatable-read transaction, after its snapshot: every
        row the DELETE removes was committed before that snapshot, so before the moment (PostgreSQL
        stamps a commit before making it visible), and recovery to it brings every one back; the
        DELETE's own commit comes after it, so recovery stops short of the damage.
        """
        admin = ctx.deployment.admin.pinned().with_db(ctx.deployment.app.dbname)
        with admin.connect() as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            for attempt in range(1, _DELETE_ATTEMPTS + 1):
                try:
                    row = conn.execute("SELECT clock_timestamp()").fetchone()
                    assert row is not None
                    self.before_damage = row[0]
                    self.deleted = conn.execute(DELETE_DRILL_ARTICLES, (DRILL_EMAIL,)).rowcount
                    conn.commit()
                    return
                except psycopg.errors.SerializationFailure:
                    # The load's writes change the per-status article counts (migration 0008), which
                    # the DELETE changes too: after its snapshot, that is a conflict in repeatable
                    # read. Again, with a new snapshot and a new moment.
                    conn.rollback()
                    if attempt == _DELETE_ATTEMPTS:
                        raise
                    time.sleep(0.05 * attempt)

    def verify(self, ctx: DrillContext) -> None:
        ctx.check(
            "every deleted row came back",
            self.deleted > 0 and self.recovered == self.deleted,
            f"{self.deleted} deleted, {self.recovered} recovered to "
            f"{self.before_damage.isoformat(sep=' ') if self.before_damage else '?'}",
        )
