"""``server-loss``: the guide's "Complete server failure": nothing is left but the secrets and S3.

The topology archives its WAL into the S3 repository (repo2) while the load writes. The drill puts the
secrets and the TLS material where a secrets manager would keep them, then kills every process and
deletes the whole state directory: the local repository (repo1) goes with the disk. The recovery is the
guide's procedure as commands: a new state directory from the saved secrets (``neurmatic up
--secrets-file``, with the same S3 settings in its environment, so repo2 is recorded again), then
``neurmatic restore --to-latest`` from repo2 alone. Sessions lived in Redis, which starts empty, so the
load signs in again: users would. The RPO is what the archive had not shipped to S3 when the server
died (the local topology closes a WAL segment every 3 s: a few seconds at most).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from neurmatic.adapters.pgbackrest import PgBackRestError
from neurmatic.ops.flows.backups.pitr import Target
from neurmatic.ops.flows.backups.point_in_time import restore_cluster_to
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.registry import Scenario, register
from neurmatic.polling import poll

S3_REPO = 2
WRITES_BEFORE_LOSS_SECONDS = 5.0  # enough for a WAL segment or two to reach S3 under load
SIGN_IN_ATTEMPTS = 3
READY_TIMEOUT_SECONDS = 60.0
S3_SETTINGS_HINT = (
    "run `neurmatic up` and the drill with AWS_BACKUP_BUCKET, AWS_ENDPOINT_URL (an S3-compatible server), "
    "AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_CA_BUNDLE (a private CA) in their "
    "environment: pgBackRest archives into repo2 from then on"
)


@register
class ServerLoss(Scenario):
    name = "server-loss"
    summary = (
        "Kill every process and delete the whole state directory; rebuild from the saved secrets and the "
        "S3 repository alone (`neurmatic up --secrets-file`, `neurmatic restore --to-latest`)."
    )

    def __init__(self) -> None:
        self.vault: Path | None = None
        self.restored_to = ""

    def check_ready(self, ctx: DrillContext) -> None:
        """The topology archives into S3 now, and the rebuild will record the same repository again."""
        if not ctx.deployment.settings.aws.backup_bucket:
            raise DrillPreconditionFailed(
                "server-loss rebuilds from the S3 repository, and this process names no backup bucket "
                "(the rebuilt topology would have none to restore from)",
                hint=S3_SETTINGS_HINT,
            )
        tool = ctx.deployment.platform.archive().pgbackrest()
        if S3_REPO not in tool.repos:
            raise DrillPreconditionFailed(
                "server-loss rebuilds from the S3 repository, and this topology archives to its disk only",
                hint=S3_SETTINGS_HINT,
            )
        try:
            backups = tool.info(repo=S3_REPO).backups
        except PgBackRestError as exc:
            raise DrillPreconditionFailed(f"the S3 repository does not answer: {exc}", hint=exc.hint) from exc
        if not backups:
            raise DrillPreconditionFailed(
                "the S3 repository holds no backup to rebuild from",
                hint="take one with `neurmatic backup --physical` (`neurmatic up` takes the first)",
            )

    def run(self, ctx: DrillContext) -> None:
        ctx.hold(WRITES_BEFORE_LOSS_SECONDS, "writes archived to S3")
        self.vault = Path(tempfile.mkdtemp(prefix="neurmatic-drill-vault-"))  # the secrets manager
        ctx.control.keep_secrets(self.vault)
        where = ctx.control.location
        stage = ctx.inject("server", f"every process killed, {where} deleted", ctx.control.destroy)

        ctx.progress("rebuild: a new state directory from the saved secrets (repo2 recorded again)")
        fresh = ctx.control.rebuild(self.vault, ctx.progress)
        recovered = restore_cluster_to(
            fresh, Target("latest"), database=fresh.app.dbname, step=ctx.progress, repo=S3_REPO
        )
        self.restored_to = f"backup {recovered.plan.backup.label} and the archived WAL after it, from repo2"
        ctx.await_recovery(stage, lambda: True, f"rebuilt from the secrets and {self.restored_to}")
        self._sign_in_again(ctx)
        ctx.await_service(stage)

    @staticmethod
    def _sign_in_again(ctx: DrillContext) -> None:
        """Every session was in Redis; the load's user signs in again, as every user would have to.

        Only once the API answers ready through nginx: sign-ins are rate limited (5/min per address),
        so none is spent on a backend that is still starting.
        """
        with ctx.endpoint.client() as client:
            polled = poll(
                lambda: client.get("/api/v1/health/ready").status_code,
                timeout=READY_TIMEOUT_SECONDS,
                interval=0.3,
                done=lambda status: status == 200,
                catch=(),
            )
            if not polled.done:
                raise DrillPreconditionFailed(
                    f"the rebuilt API never answered ready through nginx ({polled.why})"
                )
        for attempt in range(SIGN_IN_ATTEMPTS):
            try:
                ctx.credentials.sign_in_again()
                return
            except DrillPreconditionFailed:
                if attempt == SIGN_IN_ATTEMPTS - 1:
                    raise
                time.sleep(2.0)

    def verify(self, ctx: DrillContext) -> None:
        ctx.check("the cluster came back from the S3 repository", bool(self.restored_to), self.restored_to)

    def restore(self, ctx: DrillContext) -> None:
        if self.vault is not None:
            shutil.rmtree(self.vault, ignore_errors=True)  # the secrets' only extra copy, now unneeded
