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


USER_TABLES = """
SELECT schemaname, tablename FROM pg_tables
WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2
"""


def count_rows(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Exact row counts of every user table, as ``schema.table``, in the connection's snapshot."""
    counts: dict[str, int] = {}
    for schema, table in conn.execute(USER_TABLES).fetchall():
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        row = conn.execute(query).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts
