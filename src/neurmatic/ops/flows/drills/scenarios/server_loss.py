"""``server-loss``: the guide's "Complete server failure": nothing is left but the secrets and S3.

The drill uploads a backup to S3 while its load runs (the scheduled backup would have), keeps writing,
puts the secrets and the TLS material where a secrets manager would keep them, then kills every process
and deletes the whole state directory. The recovery is the guide's procedure as commands: a new state
directory from the saved secrets (``neurmatic up --secrets-file``), the latest backup restored from S3,
migrations to head. Sessions lived in Redis, which starts empty, so the load signs in again: users
would. The RPO is what was written after the last backup.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from neurmatic.ops.flows.backups.context import BackupContext, restore_and_migrate
from neurmatic.ops.flows.backups.dump import create_backup
from neurmatic.ops.flows.backups.errors import S3Unavailable
from neurmatic.ops.flows.backups.s3 import client_for, download, remote_backups, upload
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.registry import Scenario, register
from neurmatic.polling import poll

WRITES_AFTER_BACKUP_SECONDS = 3.0
SIGN_IN_ATTEMPTS = 3
READY_TIMEOUT_SECONDS = 60.0


@register
class ServerLoss(Scenario):
    name = "server-loss"
    summary = (
        "Kill every process and delete the whole state directory; rebuild from the saved secrets and "
        "the latest backup in S3 (`neurmatic up --secrets-file`, `neurmatic restore s3://…`)."
    )

    def __init__(self) -> None:
        self.vault: Path | None = None
        self.restored_from = ""

    def check_ready(self, ctx: DrillContext) -> None:
        aws = ctx.deployment.settings.aws
        if not aws.backup_bucket:
            raise DrillPreconditionFailed(
                "server-loss rebuilds from the latest backup in S3, and no backup bucket is configured",
                hint="set AWS_BACKUP_BUCKET (and AWS_ENDPOINT_URL for an S3-compatible server)",
            )
        try:
            remote_backups(client_for(aws), aws.backup_bucket)
        except S3Unavailable as exc:
            raise DrillPreconditionFailed(exc.message, hint=exc.hint) from exc

    def run(self, ctx: DrillContext) -> None:
        backups = BackupContext.of(ctx.deployment)
        aws = backups.settings.aws
        assert aws.backup_bucket is not None  # check_ready
        ctx.recorder.mark_phase("backup to S3")
        path, manifest = create_backup(backups.app, backups.directory)
        remote = upload(client_for(aws), aws.backup_bucket, path, manifest)
        ctx.progress(f"latest backup in S3: {remote}")
        ctx.hold(WRITES_AFTER_BACKUP_SECONDS, "writes after the backup")
        self.vault = Path(tempfile.mkdtemp(prefix="neurmatic-drill-vault-"))  # the secrets manager
        ctx.control.keep_secrets(self.vault)
        where = ctx.control.location
        stage = ctx.inject("server", f"every process killed, {where} deleted", ctx.control.destroy)

        ctx.progress("rebuild: a new state directory from the saved secrets")
        fresh = BackupContext.of(ctx.control.rebuild(self.vault, ctx.progress))
        client = client_for(aws)
        latest = remote_backups(client, aws.backup_bucket)[0]
        self.restored_from = f"s3://{aws.backup_bucket}/{latest.key}"
        local = download(client, self.restored_from, fresh.downloads_dir)
        restore_and_migrate(fresh, local, fresh.app.dbname, yes=True, jobs=2, step=ctx.progress)
        ctx.await_recovery(stage, lambda: True, f"rebuilt from the secrets and {latest.key}")
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
        ctx.check("the service answers again from the backup", bool(self.restored_from), self.restored_from)

    def restore(self, ctx: DrillContext) -> None:
        if self.vault is not None:
            shutil.rmtree(self.vault, ignore_errors=True)  # the secrets' only extra copy, now unneeded
