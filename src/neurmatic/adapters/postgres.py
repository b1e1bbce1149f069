"""PostgreSQL programs and SQL sessions for the supervisor and the ops commands.

Binaries are found with ``pg_config --bindir`` or under ``/usr/lib/postgresql/*/bin`` because Debian
does not put ``initdb``, ``postgres`` or ``pg_basebackup``'s server-side siblings on PATH.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurmatic.adapters.commands import run
from neurmatic.errors import MissingBinaryError, TopologyError

if TYPE_CHECKING:  # psycopg is imported by the functions that connect: `neurmatic status` never does
    import psycopg
    from psycopg import sql

SERVER_BINARIES = ("postgres", "initdb", "pg_basebackup", "pg_ctl", "pg_rewind", "pg_dump", "pg_restore")


@cache  # one `pg_config` per process
def postgres_bindir() -> Path:
    """The directory holding ``postgres`` and ``initdb``; the newest installed major version wins."""
    candidates: list[Path] = []
    try:
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, timeout=10, check=False
        )
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    except FileNotFoundError:
        pass
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_major_version, reverse=True)
    for directory in candidates:
        if (directory / "postgres").is_file() and (directory / "initdb").is_file():
            return directory
    raise MissingBinaryError(
        "the PostgreSQL server (postgres, initdb) is not installed",
        hint="install it with `apt-get install -y postgresql` (or run `./dev setup` as root)",
    )


def _major_version(path: Path) -> int:
    try:
        return int(path.parent.name)
    except ValueError:
        return 0


def pg_binary(name: str) -> Path:
    """Full path of a PostgreSQL program (``initdb``, ``pg_basebackup``, ...)."""
    path = postgres_bindir() / name
    if not path.is_file():
        raise MissingBinaryError(f"{name} is not installed", hint="apt-get install -y postgresql")
    return path


@dataclass(frozen=True)
class PgEndpoint:
    """Where and as whom to connect: a server on loopback and one of its roles."""

    host: str
    port: int
    user: str
    password: str
    dbname: str = "postgres"

    def with_db(self, dbname: str) -> PgEndpoint:
        return PgEndpoint(self.host, self.port, self.user, self.password, dbname)


@contextmanager
def connect(
    endpoint: PgEndpoint, *, timeout: float = 3.0, autocommit: bool = True
) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection; failures become TopologyError naming the server, never the password."""
    import psycopg

    try:
        conn = psycopg.connect(
            host=endpoint.host,
            port=endpoint.port,
            user=endpoint.user,
            password=endpoint.password,
            dbname=endpoint.dbname,
            connect_timeout=max(1, round(timeout)),
            autocommit=autocommit,
        )
    except psycopg.Error as exc:
        raise TopologyError(
            f"cannot connect to PostgreSQL at {endpoint.host}:{endpoint.port} as {endpoint.user}: "
            f"{_first_line(exc)}"
        ) from exc
    try:
        yield conn
    finally:
        conn.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def query(
    endpoint: PgEndpoint, statement: str | sql.Composed, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Run one statement and return its rows (an empty list for statements without rows)."""
    with connect(endpoint) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return list(cur.fetchall()) if cur.description else []


def is_in_recovery(endpoint: PgEndpoint, *, timeout: float = 2.0) -> bool:
    """True on a standby, False on a primary; raises TopologyError when the server does not answer."""
    with connect(endpoint, timeout=timeout) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])


def ensure_role(endpoint: PgEndpoint, name: str, password: str, *, replication: bool = False) -> None:
    """Create or update a login role with a SCRAM password (set in the session, never logged)."""
    from psycopg import sql

    attrs = sql.SQL("LOGIN REPLICATION") if replication else sql.SQL("LOGIN")
    with connect(endpoint) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute("SET log_statement = 'none'")  # keep the password out of the server log
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
        conn.execute(
            sql.SQL("{} ROLE {} WITH {} PASSWORD {}").format(
                verb, sql.Identifier(name), attrs, sql.Literal(password)
            )
        )


def ensure_database(endpoint: PgEndpoint, name: str, owner: str) -> None:
    """Create database ``name`` owned by ``owner`` unless it exists."""
    from psycopg import sql

    with connect(endpoint) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )


# --- failover: promotion, control data, rewind, replication slots -------------------------------------


def parse_lsn(text: str) -> int:
    """``"0/3000060"`` → the byte position it names (LSNs compare as integers, not as text)."""
    high, sep, low = text.strip().partition("/")
    if not sep:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class ControlData:
    """The few ``pg_controldata`` facts failover decisions rest on (read from a *stopped* node)."""

    cluster_state: str
    checkpoint_lsn: int
    timeline: int
    data_checksums: bool
    wal_log_hints: bool

    @property
    def cleanly_shut_down(self) -> bool:
        """True after a fast/smart shutdown: the last record is the shutdown checkpoint."""
        return self.cluster_state == "shut down"

    @property
    def rewindable(self) -> bool:
        """pg_rewind needs hint-bit changes WAL-logged: data checksums (our initdb) or wal_log_hints."""
        return self.data_checksums or self.wal_log_hints

    @classmethod
    def parse(cls, text: str) -> ControlData:
        fields = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        try:
            return cls(
                cluster_state=fields["Database cluster state"],
                checkpoint_lsn=parse_lsn(fields["Latest checkpoint location"]),
                timeline=int(fields["Latest checkpoint's TimeLineID"]),
                data_checksums=fields.get("Data page checksum version", "0") != "0",
                wal_log_hints=fields.get("wal_log_hints setting", "off") == "on",
            )
        except (KeyError, ValueError) as exc:
            raise TopologyError(f"unexpected pg_controldata output (missing or bad {exc})") from exc


def read_controldata(data_dir: Path, *, user: str | None) -> ControlData:
    """``pg_controldata`` of ``data_dir`` (C locale, so the labels parse), run as the data's owner."""
    result = run(
        [pg_binary("pg_controldata"), "-D", data_dir], user=user, env={"LC_ALL": "C", "LANG": "C"}, timeout=30
    )
    return ControlData.parse(result.stdout)


def promote(endpoint: PgEndpoint, *, timeout: int = 60) -> None:
    """``pg_promote()`` on a standby, waiting until it has left recovery."""
    rows = query(endpoint, "SELECT pg_promote(true, %s)", (timeout,))
    if not rows or not rows[0][0]:
        raise TopologyError(
            f"PostgreSQL at {endpoint.host}:{endpoint.port} did not finish promotion within {timeout}s",
            hint="see its log; promotion continues in the background and may still complete",
        )


def accepts_writes(endpoint: PgEndpoint, *, timeout: float = 2.0) -> bool:
    """True when the server is out of recovery and can assign a transaction id (a write's first step)."""
    import psycopg

    try:
        with connect(endpoint, timeout=timeout) as conn:
            row = conn.execute("SELECT NOT pg_is_in_recovery(), txid_current() > 0").fetchone()
            return bool(row and row[0] and row[1])
    except (TopologyError, psycopg.Error):
        return False


def replay_lsn(endpoint: PgEndpoint) -> int | None:
    """How far a standby has replayed (None on a primary, or before it replayed anything)."""
    rows = query(endpoint, "SELECT pg_last_wal_replay_lsn()::text")
    return parse_lsn(rows[0][0]) if rows and rows[0][0] else None


def current_wal_lsn(endpoint: PgEndpoint) -> int:
    """Where a primary's WAL ends now."""
    rows = query(endpoint, "SELECT pg_current_wal_lsn()::text")
    return parse_lsn(rows[0][0])


def replication_state(endpoint: PgEndpoint, application_name: str) -> str | None:
    """The walsender state for one standby (``streaming``, ``catchup``, ...), None when not connected."""
    rows = query(
        endpoint, "SELECT state FROM pg_stat_replication WHERE application_name = %s", (application_name,)
    )
    return str(rows[0][0]) if rows else None


def ensure_physical_slot(endpoint: PgEndpoint, name: str) -> bool:
    """Create the physical slot ``name`` reserving WAL from now on, unless it exists. True if created."""
    if query(endpoint, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (name,)):
        return False
    query(endpoint, "SELECT pg_create_physical_replication_slot(%s, true)", (name,))
    return True


def drop_inactive_slots(endpoint: PgEndpoint) -> list[str]:
    """Drop every slot nobody uses (a standby's leftovers from its primary days hold WAL forever)."""
    rows = query(
        endpoint,
        "SELECT slot_name, pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active",
    )
    return [str(row[0]) for row in rows]


def rewind(target_data: Path, source: PgEndpoint, *, user: str | None, timeout: float = 600) -> str:
    """``pg_rewind`` ``target_data`` (a stopped node) onto ``source``; the password travels in the
    environment, never in argv. Returns pg_rewind's output.

    pg_rewind learns the source's timeline from its control file, which a promoted standby rewrites only
    at its first checkpoint after the promotion (a spread one: seconds to minutes later). Until then
    pg_rewind sees both nodes on the old timeline, says "no rewind required" and changes nothing; the
    node, whose WAL runs past the fork (its own crash recovery wrote a checkpoint there), then refuses
    the new timeline forever ("forked off ... before current recovery point"). So the source checkpoints
    first, as the PostgreSQL documentation asks for a freshly promoted source."""
    query(source, "CHECKPOINT")
    conninfo = (
        f"host={source.host} port={source.port} user={source.user} dbname={source.dbname} connect_timeout=5"
    )
    result = run(
        [pg_binary("pg_rewind"), "--target-pgdata", target_data, "--source-server", conninfo],
        env={"PGPASSWORD": source.password, "LC_ALL": "C"},
        user=user,
        timeout=timeout,
        cwd=target_data.parent,
    )
    return result.stdout + result.stderr
