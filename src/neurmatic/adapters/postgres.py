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

from neurmatic.errors import MissingBinaryError, TopologyError

if TYPE_CHECKING:  # psycopg is imported by the functions that connect: `neurmatic status` never does
    import psycopg
    from psycopg import sql

SERVER_BINARIES = ("postgres", "initdb", "pg_basebackup", "pg_ctl", "pg_rewind", "pg_dump", "pg_restore")


# Programs of PostgreSQL's client package alone (Debian's postgresql-client-15): a host or an image that
# only dumps and restores over the network has these without the server (the backend image does).
CLIENT_BINARIES = ("pg_dump", "pg_restore", "psql", "pg_dumpall")


@cache  # one `pg_config` per process
def _bindir_candidates() -> tuple[Path, ...]:
    """``pg_config --bindir``, then Debian's per-version directories, the newest major version first."""
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
    return tuple(candidates)


def postgres_bindir() -> Path:
    """The directory holding ``postgres`` and ``initdb``; the newest installed major version wins."""
    for directory in _bindir_candidates():
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
    """Full path of a PostgreSQL program (``initdb``, ``pg_basebackup``, ...): the server's own when it is
    installed; a client program (``pg_dump``, ``psql``…) also from a client-only installation."""
    if name in CLIENT_BINARIES:
        try:
            return postgres_bindir() / name
        except MissingBinaryError:
            found = next((d / name for d in _bindir_candidates() if (d / name).is_file()), None)
            if found is None:
                raise MissingBinaryError(
                    f"{name} is not installed", hint="apt-get install -y postgresql-client"
                ) from None
            return found
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
    """Create or update a login role with a SCRAM password. The verifier is computed here, so the
    password itself never reaches the server (nor any log line of it: a statement slower than
    ``log_min_duration_statement`` is logged whatever ``log_statement`` says)."""
    from psycopg import sql

    attrs = sql.SQL("LOGIN REPLICATION") if replication else sql.SQL("LOGIN")
    with connect(endpoint) as conn:
        conn.execute("SET log_statement = 'none'")
        conn.execute("SET log_min_duration_statement = -1")
        verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
        conn.execute(
            sql.SQL("{} ROLE {} WITH {} PASSWORD {}").format(
                verb, sql.Identifier(name), attrs, sql.Literal(verifier)
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


# --- replication: what a node says of its role and its standbys --------------------------------------


def accepts_writes(endpoint: PgEndpoint, *, timeout: float = 2.0) -> bool:
    """True when the server is out of recovery and can assign a transaction id (a write's first step)."""
    import psycopg

    try:
        with connect(endpoint, timeout=timeout) as conn:
            row = conn.execute("SELECT NOT pg_is_in_recovery(), txid_current() > 0").fetchone()
            return bool(row and row[0] and row[1])
    except (TopologyError, psycopg.Error):
        return False


def replication_state(endpoint: PgEndpoint, application_name: str) -> str | None:
    """The walsender state for one standby (``streaming``, ``catchup``, ...), None when not connected."""
    rows = query(
        endpoint, "SELECT state FROM pg_stat_replication WHERE application_name = %s", (application_name,)
    )
    return str(rows[0][0]) if rows else None
