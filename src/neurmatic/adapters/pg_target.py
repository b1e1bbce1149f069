"""Where and as whom the operations reach PostgreSQL: libpq connection strings for the current primary
(several hosts, ``target_session_attrs=read-write``) with the password in the environment, never argv."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import psycopg

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
            node = connected_node(conn)
        return replace(self, hosts=(node,))


def connected_node(conn: psycopg.Connection[Any]) -> tuple[str, int]:
    """The (host, port) of the multi-host list that libpq connected ``conn`` to, as the list names it.
    The host counts, not only the port: compose's nodes all listen on 5432 (the local topology's differ)."""
    return conn.info.host, conn.info.port
