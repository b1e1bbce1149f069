"""Row counts and content fingerprints of a database's tables, as backups and restores compare them."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

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
