"""nginx: find the binary, test a config, reload a running master."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from neurmatic.adapters.commands import require_binary, run
from neurmatic.errors import CommandError, TopologyNotRunningError

# Debian installs nginx in /usr/sbin, which is not on a normal user's PATH.
_CANDIDATES = (Path("/usr/sbin/nginx"), Path("/usr/local/sbin/nginx"), Path("/usr/local/nginx/sbin/nginx"))


def find_nginx() -> Path:
    """The nginx binary, from PATH or the usual sbin directories (MissingBinaryError says how to install)."""
    return require_binary("nginx", candidates=_CANDIDATES, package="nginx")


def nginx_version(nginx: Path | None = None) -> tuple[int, int, int]:
    """The version of ``nginx``, e.g. ``(1, 22, 1)``. ``http2 on;`` needs ``(1, 25, 1)`` or later."""
    argv: list[str | Path] = [nginx or find_nginx(), "-v"]
    result = run(argv, timeout=10)
    output = result.stdout + result.stderr  # nginx prints its version on stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", output)
    if not match:
        raise CommandError([str(part) for part in argv], result.returncode, f"no version in: {output}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def check_config(conf: Path, *, prefix: Path, nginx: Path | None = None, user: str | None = None) -> None:
    """Run ``nginx -t`` on ``conf``; a bad config raises CommandError carrying nginx's own message.

    ``-e stderr`` keeps nginx away from its compiled-in error log under ``/var/log/nginx``, which an
    unprivileged user cannot open. ``user`` runs the test as the account the server runs as: run as root,
    ``nginx -t`` hands the temp and cache directories to ``nobody`` (mode 0700), locking a running
    nginx's workers out of them (its cache misses answer 500) until they are given back.
    """
    run([nginx or find_nginx(), "-t", "-e", "stderr", "-p", prefix, "-c", conf], timeout=30, user=user)


def reload(master_pid: int) -> None:
    """Ask the nginx master to reload its config (SIGHUP).

    An nginx master given an invalid config keeps the old one and only logs why: call
    :func:`check_config` first.
    """
    try:
        os.kill(master_pid, signal.SIGHUP)
    except ProcessLookupError as exc:
        raise TopologyNotRunningError(
            f"no nginx master with pid {master_pid}", hint="start the topology with `neurmatic up`"
        ) from exc
