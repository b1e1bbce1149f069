"""Why a backup, a verification or a restore stopped: the exit-code table maps each one (a light module,
so ``neurmatic`` imports it at start without pg, S3 or SQL libraries)."""

from __future__ import annotations

from neurmatic.errors import NeurmaticError


class BackupError(NeurmaticError):
    """A backup, its verification, its upload or a restore from it stopped."""


class BackupFailed(BackupError):
    """The backup could not be made; nothing partial was left behind."""


class ArchiveError(BackupError):
    """pg_dump, pg_restore or the packing step failed; the message says which and why."""


class BackupInvalid(BackupError):
    """The file is not a complete, intact backup (truncated, corrupt, or not matching its manifest)."""


class RestoreFailed(BackupError):
    """The restore stopped; the target database is as it was."""


class TargetOutOfRange(RestoreFailed):
    """The recovery target is outside what the repository can recover; the message gives the range."""


class TargetNotEmpty(BackupError):
    """The target database has tables and --yes was not given."""


class S3Unavailable(BackupError):
    """S3 could not be reached or refused the request; the local backup is intact."""


class NotABackupAddress(BackupError):
    """An address that cannot name a backup in S3: a usage error, nothing was asked of S3."""
