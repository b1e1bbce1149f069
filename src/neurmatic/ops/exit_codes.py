"""Exit codes of every ``neurmatic`` command, and the one place exceptions become them."""

from __future__ import annotations

from enum import IntEnum

from neurmatic import errors


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
    ABORTED = 10  # the user declined a confirmation


_BY_ERROR: tuple[tuple[type[errors.NeurmaticError], ExitCode], ...] = (
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
