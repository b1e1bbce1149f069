"""A PostgreSQL server started from a restored data directory, beside the live cluster: recovery runs
there, the result is checked there, and only then is anything live touched.

The restored directory is a copy of a Patroni node's: its ``postgresql.conf`` names the live node's
port, pg_hba file and synchronous standby, and archives into the live repository. Each of those is
overridden on the command line, so the scratch server listens only on its own socket, waits for no
standby, and archives nothing (``archive_command=false`` keeps every new WAL file and the new
timeline's history marked ready: once this directory becomes the live leader, its archiver ships them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from neurmatic.adapters.commands import primary_group
from neurmatic.adapters.postgres import pg_binary
from neurmatic.ops.flows.backups.errors import RestoreFailed

RECOVERY_TIMEOUT_SECONDS = 3600.0
# What pgBackRest's restore leaves in postgresql.auto.conf: needed for this recovery, wrong for any later
# one (a standby started from this directory would stop at the same target).
RECOVERY_SETTINGS = (
    "restore_command",
    "recovery_target",
    "recovery_target_time",
    "recovery_target_lsn",
    "recovery_target_xid",
    "recovery_target_name",
    "recovery_target_action",
    "recovery_target_inclusive",
    "recovery_target_timeline",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ScratchCluster:
    """``postgres -D data_dir`` on a free loopback port, as ``account``, for one recovery."""

    data_dir: Path
    password: str  # the superuser's, as the restored cluster knows it
    account: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # what its restore_command needs (the passphrase)
    port: int = 0
    _process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.port = self.port or free_port()
        log = (self.data_dir.parent / f"{self.data_dir.name}.log").open("ab")
        self._process = subprocess.Popen(
            [
                str(pg_binary("postgres")),
                "-D",
                str(self.data_dir),
                "-c", f"port={self.port}",
                "-c", "listen_addresses=127.0.0.1",
                "-c", f"unix_socket_directories={self.data_dir}",
                "-c", f"hba_file={self.data_dir / 'pg_hba.conf'}",
                "-c", f"ident_file={self.data_dir / 'pg_ident.conf'}",
                "-c", "synchronous_standby_names=",
                "-c", "archive_mode=on",
                "-c", "archive_command=false",
                "-c", "hot_standby=on",
                "-c", "wal_level=replica",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self.account,
            group=primary_group(self.account),
            extra_groups=[] if self.account else None,
            start_new_session=True,
            env={**os.environ, **self.env},
        )  # fmt: skip
        log.close()

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=self.password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        )

    def await_promoted(self, timeout: float = RECOVERY_TIMEOUT_SECONDS) -> None:
        """Wait until recovery reached its target and the server took writes; RestoreFailed with the
        server's own reason when it stopped instead (a target past the archived WAL, a gap)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RestoreFailed(f"recovery stopped: {self.failure_reason()}")
            with contextlib.suppress(psycopg.OperationalError), self.connect() as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and not row[0]:
                    return
            time.sleep(0.3)
        raise RestoreFailed(f"recovery did not finish within {timeout:g}s; see {self.log_file}")

    def failure_reason(self) -> str:
        """The FATAL/PANIC lines of the server's log, else its tail."""
        with contextlib.suppress(OSError):
            lines = self.log_file.read_text(errors="replace").splitlines()
            fatal = [
                line
                for line in lines
                if ("FATAL:" in line or "PANIC:" in line) and "the database system is" not in line
            ]  # not the refusals our own polling met while the server started
            return " ".join(fatal[-2:] or lines[-3:])
        return "no log"

    def timelines(self) -> tuple[int, int]:
        """(the timeline the promoted server is on, the one it branched from: its history file's last
        line)."""
        with self.connect() as conn:
            row = conn.execute("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)").fetchone()
            timeline = int(row[0], 16) if row else 0
            history = conn.execute("SELECT pg_read_file(%s)", (f"pg_wal/{timeline:08X}.history",)).fetchone()
        entries = [line.split() for line in str(history[0] if history else "").splitlines() if line.strip()]
        parent = int(entries[-1][0]) if entries else timeline
        return timeline, parent

    def forget_recovery_settings(self) -> None:
        """Drop pgBackRest's recovery settings from postgresql.auto.conf (see RECOVERY_SETTINGS)."""
        with self.connect() as conn:
            for name in RECOVERY_SETTINGS:
                conn.execute(f"ALTER SYSTEM RESET {name}")

    def stop(self) -> None:
        """A fast shutdown (a clean checkpoint: the directory can be started by anyone after)."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        try:
            self._process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
