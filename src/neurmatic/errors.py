"""The one error root of Neurmatic.

Every error the project raises on purpose derives from :class:`NeurmaticError`. Library errors are
translated at the adapter edge (``raise SomeNeurmaticError(...) from exc``) so callers never catch a
library's exception type.

::

    NeurmaticError
    ├── ConfigurationError            settings missing, placeholder or too weak
    │   └── PlatformUnavailable       the deployment has no process control for this procedure
    ├── CommandError                  an external program failed (argv, exit code, stderr tail)
    │   └── CommandTimeout            ... or did not finish in time
    ├── MissingBinaryError            a program we need is not installed (says how to install it)
    ├── TopologyError                 the local production topology cannot do what was asked
    │   ├── PortInUseError            a port we need is taken (says which, and by what if known)
    │   ├── StateDirError             the state directory is missing, unreadable or incompatible
    │   ├── ServiceStartError         a server did not become ready (says where its log is)
    │   └── TopologyNotRunningError   a command needs a running topology and there is none
    └── ApiError                      an error the API answers with its JSON error body
        ├── AuthenticationRequired    AUTHENTICATION_REQUIRED, 401
        ├── Forbidden                 FORBIDDEN, 403
        ├── Conflict                  CONFLICT, 409
        ├── PayloadTooLarge           PAYLOAD_TOO_LARGE, 413
        ├── RateLimited               RATE_LIMIT_EXCEEDED, 429 (with Retry-After)
        ├── ValidationFailed          VALIDATION_ERROR, 422
        ├── NotFound                  NOT_FOUND, 404
        └── ServiceUnavailable        SERVICE_UNAVAILABLE, 503

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
