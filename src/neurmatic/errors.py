"""The one error root of Neurmatic.

Every error the project raises on purpose derives from :class:`NeurmaticError`. Library errors are
translated at the adapter edge (``raise SomeNeurmaticError(...) from exc``) so callers never catch a
library's exception type.

::

    NeurmaticError
    ├── ConfigurationError            settings missing, placeholder or too weak
    │   └── PlatformUnavailable       the deployment has no process control for this procedure
    ├── ConfirmationRequired          a destructive step needs --yes and there is no terminal to ask on
    ├── CommandError                  an external program failed (argv, exit code, stderr tail)
    │   └── CommandTimeout            ... or did not finish in time
    ├── MissingBinaryError            a program we need is not installed (says how to install it)
    ├── ProbeError                    a server answered a readiness probe with an error  [adapters.probes]
    ├── TopologyError                 the local production topology cannot do what was asked
    │   ├── PortInUseError            a port we need is taken (says which, and by what if known)
    │   ├── StateDirError             the state directory is missing, unreadable or incompatible
    │   ├── ServiceStartError         a server did not become ready (says why, and where its log is)
    │   ├── TopologyNotRunningError   a command needs a running topology and there is none
    │   ├── PatroniUnreachable        no Patroni REST API answers  [adapters.patroni]
    │   └── DrillError                a drill could not be run  [ops.flows.drills.errors]
    │       ├── DrillPreconditionFailed   the topology is not whole (or not ready) before the drill
    │       └── DrillBusy             another drill is running on this topology
    ├── DrillDataUnavailable          a drill's writes could not be looked up  [ops.flows.drills.database]
    ├── BackupError                   a backup, verify, upload or restore stopped  [ops.flows.backups.errors]
    │   ├── BackupFailed              the backup could not be made (nothing partial left)
    │   ├── ArchiveError              pg_dump, pg_restore or packing failed
    │   ├── BackupInvalid             truncated, corrupt, or not matching its manifest
    │   ├── RestoreFailed             the restore stopped (the target is as it was)
    │   │   └── TargetOutOfRange      a recovery target the repository cannot reach (says the range)
    │   ├── TargetNotEmpty            the target database has tables and --yes was not given
    │   ├── S3Unavailable             S3 unreachable or refusing (the local backup is intact)
    │   └── NotABackupAddress         an address that cannot name a backup in S3 (a usage error)
    ├── PgBackRestError               pgBackRest refused or failed (its own message)  [adapters.pgbackrest]
    ├── MonitoringError               Prometheus or Alertmanager could not do what was asked
    │   ├── MonitoringUnavailable     ... did not answer (says the URL and what to start)
    │   └── MonitoringRequestRefused  ... refused the request (its own message)
    ├── CertificateRefused            a new certificate failed its checks (the served one is kept)
    ├── FailoverFailed                a failover, switchover or rebuild stopped  [deployment.failover]
    ├── DeployFailed                  a deploy, rollback or scaling stopped  [deployment.releases]
    │   ├── DeployRolledBack          the new release failed; the previous one was put back
    │   ├── SchemaNotExpandOnly       the migrations drop or narrow the schema (nothing switched)
    │   └── RolloutFailed             a service did not come up well  [ops.flows.releases.rolling]
    ├── MigrationFailed               a release's migrations failed (rolled back)  [db.errors]
    ├── QueueUnavailable              a job could not be queued (Redis unreachable)  [domain.jobs]
    ├── MailDeliveryError             a message could not be handed to the provider  [mail.base]
    │   ├── TemporaryMailFailure      ... in a way that may pass: retried later
    │   └── PermanentMailFailure      ... refused for good: not retried
    ├── MalformedFrame                a WebSocket frame outside the protocol  [api.notifications.socket]
    └── ApiError                      an error the API answers with its JSON error body
        ├── AuthenticationRequired    AUTHENTICATION_REQUIRED, 401
        ├── Forbidden                 FORBIDDEN, 403
        ├── Conflict                  CONFLICT, 409
        ├── PayloadTooLarge           PAYLOAD_TOO_LARGE, 413
        ├── RateLimited               RATE_LIMIT_EXCEEDED, 429 (with Retry-After)
        ├── ValidationFailed          VALIDATION_ERROR, 422
        ├── NotFound                  NOT_FOUND, 404
        └── ServiceUnavailable        SERVICE_UNAVAILABLE, 503

A ``[module]`` (under ``neurmatic.``) says where a class lives when not here; its subclasses below it live
there too unless they name another. The operators' errors live beside their procedure, in light modules
(no database, S3 or supervisor imports) so that ``ops/exit_codes.py`` imports them plainly; the test
``tests/unit/test_error_tree.py`` keeps this drawing and the code in step.

Each error carries a ``hint``: the one thing the user should do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class NeurmaticError(Exception):
    """Root of every error Neurmatic raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class ConfigurationError(NeurmaticError):
    """Settings are missing, malformed, placeholders or too weak for the environment."""


class PlatformUnavailable(ConfigurationError):
    """The procedure starts or stops servers, and the deployment was described without a platform."""


class CommandError(NeurmaticError):
    """An external program exited with a non-zero status."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str, *, hint: str | None = None) -> None:
        tail = "\n".join(output.strip().splitlines()[-15:])
        super().__init__(f"{argv[0]} exited with status {returncode}: {tail}", hint=hint)
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output


class CommandTimeout(CommandError):
    """An external program did not finish within its timeout."""


class CertificateRefused(NeurmaticError):
    """A new certificate failed its checks; the installed one was kept (and is still served)."""


class ConfirmationRequired(NeurmaticError):
    """A destructive step needs --yes, and there is no terminal to ask on."""


class MissingBinaryError(NeurmaticError):
    """A program Neurmatic needs is not installed."""


class TopologyError(NeurmaticError):
    """The local production topology cannot do what was asked."""


class PortInUseError(TopologyError):
    """A loopback port the topology needs is already taken."""


class StateDirError(TopologyError):
    """The state directory is missing, unreadable, or made by an incompatible version."""


class ServiceStartError(TopologyError):
    """A supervised server did not become ready in time."""


class TopologyNotRunningError(TopologyError):
    """A command needs a running topology and none is running in the state directory."""


class MonitoringError(NeurmaticError):
    """Prometheus or Alertmanager could not do what was asked."""


class MonitoringUnavailable(MonitoringError):
    """Prometheus or Alertmanager did not answer at its URL."""


class MonitoringRequestRefused(MonitoringError):
    """Prometheus or Alertmanager answered a request with an error (a bad matcher, an unknown silence)."""


class ApiError(NeurmaticError):
    """An error the API answers with ``{"success": false, "error": {code, message, details}}``."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    status_code: ClassVar[int] = 500

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.details = details


class AuthenticationRequired(ApiError):
    code = "AUTHENTICATION_REQUIRED"
    status_code = 401


class Forbidden(ApiError):
    code = "FORBIDDEN"
    status_code = 403


class Conflict(ApiError):
    code = "CONFLICT"
    status_code = 409


class PayloadTooLarge(ApiError):
    code = "PAYLOAD_TOO_LARGE"
    status_code = 413


class RateLimited(ApiError):
    code = "RATE_LIMIT_EXCEEDED"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ValidationFailed(ApiError):
    code = "VALIDATION_ERROR"
    status_code = 422


class NotFound(ApiError):
    code = "NOT_FOUND"
    status_code = 404


class ServiceUnavailable(ApiError):
    code = "SERVICE_UNAVAILABLE"
    status_code = 503
