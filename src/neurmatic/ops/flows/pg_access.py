"""How the backup and restore flows reach PostgreSQL: libpq connection strings for the current primary
(several hosts, ``target_session_attrs=read-write``) with the password in the environment, never argv."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg import sql

from neurmatic.db.url import DatabaseUrl


@dataclass(frozen=True)
class PgTarget:
    hosts: tuple[tuple[str, int], ...]
    user: str
    password: str | None
    dbname: str

    @classmethod
    def from_url(cls, url: DatabaseUrl) -> PgTarget:
        return cls(tuple(url.hosts), url.user, url.password, url.database)

    def with_db(self, dbname: str) -> PgTarget:
        return replace(self, dbname=dbname)

    @property
    def conninfo(self) -> str:
        hosts = ",".join(h for h, _ in self.hosts)
        ports = ",".join(str(p) for _, p in self.hosts)
        return (
            f"host={hosts} port={ports} dbname={self.dbname} user={self.user} "
            "target_session_attrs=read-write connect_timeout=5"
        )

    @property
    def env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.password} if self.password else {}

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo, password=self.password, **kwargs)

    def pinned(self) -> PgTarget:
        """This target on the one node that is the primary now.

        A multi-host target finds the primary only when its database exists on every node. A database
        just created on the primary may not have replayed on the standby yet, and libpq gives up on the
        first node that answers "does not exist" rather than trying the next. Pinning once at the start
        of a procedure sends every later connection (ours and pg_dump's, psql's, pg_restore's) to the
        primary.
        """
        if len(self.hosts) == 1:
            return self
        with self.connect(autocommit=True) as conn:
            row = conn.execute("SELECT inet_server_port()").fetchone()
        port = int(row[0]) if row and row[0] is not None else self.hosts[0][1]
        host = next((h for h, p in self.hosts if p == port), self.hosts[0][0])
        return replace(self, hosts=((host, port),))


USER_TABLES = """
SELECT schemaname, tablename FROM pg_tables
WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2
"""


def count_rows(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Exact row counts of every user table, as ``schema.table``, in the connection's snapshot."""
    return {name: rows for name, (rows, _) in table_fingerprints(conn, checksums=False).items()}


# Every setting that changes how a row prints as text, pinned so the same rows give the same checksum
# on any server and session (a restored copy is compared with the manifest written at backup time).
_CANONICAL_OUTPUT = (
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL IntervalStyle = 'postgres'",
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL bytea_output = 'hex'",
)
# Order-independent: the sum of each row's 64-bit hash, so no ORDER BY (and no sort of a large table)
# is needed and memory stays flat; any changed, missing or extra row changes it. hashtextextended is
# PostgreSQL's own fast 64-bit hash (a corruption check, not a cryptographic one), several times
# cheaper than md5 on the two cores a backup shares with pg_dump and the compressor.
_FINGERPRINT = "SELECT count(*), COALESCE(sum(hashtextextended(t::text, 0)), 0)::text FROM {}.{} AS t"


def table_fingerprints(
    conn: psycopg.Connection[Any], *, checksums: bool = True
) -> dict[str, tuple[int, str]]:
    """(row count, content checksum) of every user table, as ``schema.table``, in one snapshot.

    Runs in the connection's current transaction when one is open (the backup's exported snapshot);
    otherwise in a repeatable-read transaction of its own so every table is read at the same instant.
    """
    own_transaction = conn.autocommit
    if own_transaction:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        for setting in _CANONICAL_OUTPUT:
            conn.execute(setting)
        result: dict[str, tuple[int, str]] = {}
        for schema, table in conn.execute(USER_TABLES).fetchall():
            target = (sql.Identifier(schema), sql.Identifier(table))
            if checksums:
                row = conn.execute(sql.SQL(_FINGERPRINT).format(*target)).fetchone()
                result[f"{schema}.{table}"] = (int(row[0]), str(row[1])) if row else (0, "0")
            else:
                row = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(*target)).fetchone()
                result[f"{schema}.{table}"] = (int(row[0]) if row else 0, "")
        return result
    finally:
        if own_transaction:
            conn.execute("COMMIT")
