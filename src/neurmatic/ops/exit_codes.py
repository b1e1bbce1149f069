"""Exit codes of every ``neurmatic`` command, and the one place exceptions become them."""

from __future__ import annotations

from enum import IntEnum

from neurmatic import errors
from neurmatic.adapters.pgbackrest import PgBackRestError
from neurmatic.db.errors import MigrationFailed
from neurmatic.deployment.failover import FailoverFailed
from neurmatic.deployment.releases import DeployFailed, DeployRolledBack, SchemaNotExpandOnly
from neurmatic.ops.flows.backups.errors import (
    ArchiveError,
    BackupFailed,
    BackupInvalid,
    NotABackupAddress,
    RestoreFailed,
    S3Unavailable,
    TargetNotEmpty,
)


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # an unexpected error (a bug): the message says where to look
    USAGE = 2  # bad arguments (click's own code)
    CONFIGURATION = 3  # settings or secrets unfit
    MISSING_DEPENDENCY = 4  # a program is not installed
    STATE_DIR = 5  # state directory missing, unreadable or incompatible
    PORT_IN_USE = 6
    SERVICE_FAILED = 7  # a server did not start or a command it ran failed
    NOT_RUNNING = 8  # the topology is not running
    UNHEALTHY = 9  # a check found the system unhealthy
    ABORTED = 10  # the user declined a confirmation, or a destructive step needs --yes
    BACKUP_INVALID = 11  # the backup is truncated, corrupt, or does not match its manifest
    BACKUP_FAILED = 12  # the backup could not be made (nothing partial was left)
    RESTORE_FAILED = 13  # the restore stopped (the target is as it was)
    DEGRADED = 14  # a check warns (nothing fails)
    S3_UNAVAILABLE = 15  # S3 failed; the local backup is made and intact
    OBJECTIVE_MISSED = 16  # a DR drill missed its RTO/RPO, or the system did not recover
    FAILOVER_FAILED = 17  # a failover, switchover or standby rebuild stopped (the message says where)
    MONITORING_UNAVAILABLE = 18  # Prometheus or Alertmanager did not answer (the message names the URL)
    DEPLOY_FAILED = 20  # a deploy, rollback or scaling stopped (the message says what runs now)
    ROLLED_BACK = 21  # the new release failed and the previous one was put back automatically
    CERTIFICATE_REFUSED = 23  # a new certificate failed its checks; the one nginx serves was kept
    SCHEMA_REFUSED = 22  # the release's migrations drop or narrow the schema (rolled back, nothing switched)


# First match wins: a subclass comes before its base (DeployRolledBack before DeployFailed).
_BY_ERROR: tuple[tuple[type[errors.NeurmaticError], ExitCode], ...] = (
    (BackupInvalid, ExitCode.BACKUP_INVALID),
    (BackupFailed, ExitCode.BACKUP_FAILED),
    (ArchiveError, ExitCode.BACKUP_FAILED),
    (PgBackRestError, ExitCode.BACKUP_FAILED),
    (RestoreFailed, ExitCode.RESTORE_FAILED),
    (TargetNotEmpty, ExitCode.ABORTED),
    (S3Unavailable, ExitCode.S3_UNAVAILABLE),
    (NotABackupAddress, ExitCode.USAGE),
    (errors.CertificateRefused, ExitCode.CERTIFICATE_REFUSED),
    (FailoverFailed, ExitCode.FAILOVER_FAILED),
    (DeployRolledBack, ExitCode.ROLLED_BACK),
    (SchemaNotExpandOnly, ExitCode.SCHEMA_REFUSED),
    (DeployFailed, ExitCode.DEPLOY_FAILED),
    (MigrationFailed, ExitCode.DEPLOY_FAILED),
    (errors.MonitoringUnavailable, ExitCode.MONITORING_UNAVAILABLE),
    (errors.MonitoringRequestRefused, ExitCode.USAGE),
    (errors.ConfirmationRequired, ExitCode.ABORTED),
    (errors.ConfigurationError, ExitCode.CONFIGURATION),
    (errors.MissingBinaryError, ExitCode.MISSING_DEPENDENCY),
    (errors.PortInUseError, ExitCode.PORT_IN_USE),
    (errors.StateDirError, ExitCode.STATE_DIR),
    (errors.TopologyNotRunningError, ExitCode.NOT_RUNNING),
    (errors.ServiceStartError, ExitCode.SERVICE_FAILED),
    (errors.CommandError, ExitCode.SERVICE_FAILED),
    (errors.TopologyError, ExitCode.SERVICE_FAILED),
)


def exit_code_for(exc: errors.NeurmaticError) -> ExitCode:
    for error_type, code in _BY_ERROR:
        if isinstance(exc, error_type):
            return code
    return ExitCode.FAILURE
