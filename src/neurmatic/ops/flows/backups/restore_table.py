"""``neurmatic restore-table``: the guide's data-loss procedure, without its hand-typed steps.

The guide restores the backup into a separate database, dumps the affected table and pipes it into
production "carefully". Here: the backup is restored (and checked against its manifest) into a scratch
database; each named table is copied into a temporary table in production's own transaction; rows are
matched by primary key; the missing rows are inserted (the changed ones replaced only with
``--overwrite``; rows written since the backup are never touched); a dropped table is recreated from the
backup's definition. Everything happens in one transaction, so a dry run is the same work rolled back,
and a failure (for example a foreign key pointing at rows that are also gone) changes nothing.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.adapters.postgres import pg_binary
from neurmatic.ops.flows.backups.errors import RestoreFailed
from neurmatic.ops.flows.backups.restore import Step, restore_backup
from neurmatic.ops.flows.pg_access import USER_TABLES


@dataclass
class TablePlan:
    table: str
    recreate: bool  # the table was gone from production
    backup_rows: int
    missing: int  # in the backup, not in production (by primary key): inserted
    changed: int  # same key, different content: replaced only with --overwrite
    extra: int  # only in production (written after the backup): always kept
    overwrite: bool
    applied: bool


@dataclass(frozen=True)
class _Table:
    schema: str
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.name))


def restore_tables(
    backup: Path,
    *,
    admin: PgTarget,
    production: str,
    owner: str,
    tables: list[str],
    dry_run: bool,
    overwrite: bool,
    scratch_dir: Path,
    step: Step,
    jobs: int = 2,
) -> list[TablePlan]:
    admin = admin.pinned()
    scratch = f"neurmatic_recovery_{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"
    step(f"restoring {backup.name} into the separate database {scratch}")
    restore_backup(
        backup,
        admin=admin,
        database=scratch,
        owner=owner,
        yes=False,
        safety_dir=scratch_dir,
        step=step,
        jobs=jobs,
    )
    try:
        return recover_tables(
            admin.with_db(scratch),
            admin=admin,
            production=production,
            owner=owner,
            tables=tables,
            dry_run=dry_run,
            overwrite=overwrite,
            step=step,
        )
    finally:
        with admin.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))


def recover_tables(
    source: PgTarget,
    *,
    admin: PgTarget,
    production: str,
    owner: str,
    tables: list[str],
    dry_run: bool,
    overwrite: bool,
    step: Step,
) -> list[TablePlan]:
    """Bring the named tables' rows (or a dropped table) from ``source`` (a restored copy of the
    database: a logical backup restored beside it, or the cluster recovered to a point in time) into
    ``production``, in one transaction (rolled back for a dry run)."""
    try:
        with source.connect(autocommit=True) as recovered:
            chosen = _parents_first(recovered, _resolve(recovered, tables))
            with admin.with_db(production).connect() as target:
                target.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(owner)))
                plans = [_recover(recovered, source, target, t, overwrite, step) for t in chosen]
                _count_again(target, chosen, step)
                if dry_run:
                    target.rollback()
                else:
                    target.commit()
                    for plan in plans:
                        plan.applied = True
        return plans
    except psycopg.errors.ForeignKeyViolation as exc:
        raise RestoreFailed(
            f"the recovered rows point at rows that are gone too: {exc.diag.message_detail or exc}; "
            "nothing was changed",
            hint="add the referenced table with another --table",
        ) from exc
    except psycopg.Error as exc:
        raise RestoreFailed(f"recovering the tables failed: {exc}; nothing was changed") from exc


# Tables whose rows the kept article counts (migration 0008) are derived from, or which hold them: once
# rows of either came back, the counts are counted again. Recovered rows are added to them as they come
# back, a recreated table's old rows were never taken out, and a backup's copy of the counts is as old as
# the backup. (``articles.tag_slugs`` needs nothing: its row trigger derives it as the rows are written.)
_COUNTED_TABLES = {"public.articles", "public.article_counts"}
_RECOUNT = "public.neurmatic_recount_articles()"


def _count_again(target: psycopg.Connection[Any], tables: list[_Table], step: Step) -> None:
    if not any(t.qualified in _COUNTED_TABLES for t in tables):
        return
    row = target.execute("SELECT to_regprocedure(%s) IS NOT NULL", (_RECOUNT,)).fetchone()
    if row and row[0]:  # a schema from before the migration that added it keeps no counts
        target.execute(f"SELECT {_RECOUNT}")
        step("article_counts: counted again from the articles")


def _resolve(conn: psycopg.Connection[Any], names: list[str]) -> list[_Table]:
    known = {f"{s}.{t}": _Table(s, t) for s, t in conn.execute(USER_TABLES).fetchall()}
    chosen: list[_Table] = []
    for name in names:
        table = known.get(name if "." in name else f"public.{name}")
        if table is None:
            raise RestoreFailed(
                f"the backup holds no table {name!r}",
                hint="its tables are: " + ", ".join(sorted(known)),
            )
        chosen.append(table)
    return chosen


def _parents_first(conn: psycopg.Connection[Any], tables: list[_Table]) -> list[_Table]:
    """Order the tables so that a referenced table is filled before the tables that reference it."""
    edges = conn.execute(
        "SELECT cn.nspname, c.relname, pn.nspname, p.relname FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace "
        "JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace "
        "WHERE k.contype = 'f'"
    ).fetchall()
    parents = {t: {_Table(ps, pt) for cs, ct, ps, pt in edges if _Table(cs, ct) == t} for t in tables}
    ordered: list[_Table] = []
    while len(ordered) < len(tables):
        ready = [
            t for t in tables if t not in ordered and not (parents[t] & set(tables)) - set(ordered) - {t}
        ]
        ordered.extend(ready or [t for t in tables if t not in ordered])  # a cycle: keep the given order
    return ordered


# Columns PostgreSQL derives from other tables' rows (migration 0007): neither copied nor compared, since
# the row trigger writes them from production's rows whatever the backup held.
_DERIVED_COLUMNS = {"public.articles": {"tag_slugs"}}


def _columns(conn: psycopg.Connection[Any], table: _Table) -> tuple[list[str], list[str]]:
    """(the insertable columns, i.e. neither generated nor derived, in order; the primary key columns)."""
    rows = conn.execute(
        "SELECT a.attname, a.attgenerated = '' FROM pg_attribute a WHERE a.attrelid = %s::regclass "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (table.qualified,),
    ).fetchall()
    key = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (table.qualified,),
    ).fetchall()
    derived = _DERIVED_COLUMNS.get(table.qualified, set())
    return [name for name, plain in rows if plain and name not in derived], [name for (name,) in key]


def _exists(conn: psycopg.Connection[Any], table: _Table) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table.qualified,)).fetchone() == (True,)


def _recreate(source: PgTarget, target: psycopg.Connection[Any], table: _Table) -> None:
    """Run the backup's definition of the table (columns, defaults, indexes, constraints) in production."""
    ddl = subprocess.run(
        [
            str(pg_binary("pg_dump")),
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "-t",
            table.qualified,
            "-d",
            source.conninfo,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **source.env},
    )
    if ddl.returncode != 0:
        raise RestoreFailed(f"cannot read the definition of {table.qualified}: {ddl.stderr.strip()}")
    # Drop psql meta-commands (pg_dump's \restrict guard) and the search_path reset that would outlive
    # the transaction: what is left is plain SQL the server runs as one multi-statement query.
    statements = "\n".join(
        line
        for line in ddl.stdout.splitlines()
        if not line.startswith(("\\", "SELECT pg_catalog.set_config"))
    )
    target.execute(statements.encode())  # pg_dump qualifies every name, so search_path does not matter


def _recover(
    recovered: psycopg.Connection[Any],
    source: PgTarget,
    target: psycopg.Connection[Any],
    table: _Table,
    overwrite: bool,
    step: Step,
) -> TablePlan:
    recreate = not _exists(target, table)
    if recreate:
        step(f"{table.qualified}: gone from production, recreating it from the backup")
        _recreate(source, target, table)
    columns, key = _columns(recovered, table)
    if not key:
        raise RestoreFailed(f"{table.qualified} has no primary key; rows cannot be matched safely")
    target.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table.ident))
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    target.execute(
        sql.SQL("CREATE TEMP TABLE recovered ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            cols, table.ident
        )
    )
    _copy(recovered, target, table, cols)
    stage, live = sql.SQL("recovered s"), table.ident
    joined = sql.SQL(" AND ").join(sql.SQL("p.{0} = s.{0}").format(sql.Identifier(k)) for k in key)
    from_backup = _qualified("s", columns)
    # Rows compare as text: json and other types without an equality operator compare too.
    row_s = sql.SQL("ROW({})::text").format(from_backup)
    row_p = sql.SQL("ROW({})::text").format(_qualified("p", columns))

    def count(query: sql.Composed | sql.SQL) -> int:
        row = target.execute(query).fetchone()
        return int(row[0]) if row else 0

    plan = TablePlan(
        table=table.qualified,
        recreate=recreate,
        backup_rows=count(sql.SQL("SELECT count(*) FROM recovered")),
        missing=count(
            sql.SQL("SELECT count(*) FROM {} WHERE NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(
                stage, live, joined
            )
        ),
        changed=count(
            sql.SQL("SELECT count(*) FROM {} JOIN {} p ON {} WHERE {} <> {}").format(
                stage, live, joined, row_s, row_p
            )
        ),
        extra=count(
            sql.SQL("SELECT count(*) FROM {} p WHERE NOT EXISTS (SELECT 1 FROM {} WHERE {})").format(
                live, stage, joined
            )
        ),
        overwrite=overwrite,
        applied=False,
    )
    step(f"{table.qualified}: inserting {plan.missing} missing rows")
    target.execute(
        sql.SQL(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} "
            "WHERE NOT EXISTS (SELECT 1 FROM {} p WHERE {})"
        ).format(
            live,
            cols,
            from_backup,
            stage,
            live,
            joined,
        )
    )
    if overwrite and plan.changed:
        step(f"{table.qualified}: replacing {plan.changed} changed rows with the backup's version")
        target.execute(
            sql.SQL("UPDATE {} p SET ({}) = ROW({}) FROM {} WHERE {} AND {} <> {}").format(
                live,
                cols,
                from_backup,
                stage,
                joined,
                row_s,
                row_p,
            )
        )
    _advance_sequences(target, table, columns)
    target.execute("DROP TABLE recovered")
    return plan


def _qualified(alias: str, columns: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c)) for c in columns
    )


def _copy(
    recovered: psycopg.Connection[Any], target: psycopg.Connection[Any], table: _Table, cols: sql.Composable
) -> None:
    """Stream the backup's rows into the temporary table (binary COPY: the types are the same)."""
    out = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)").format(cols, table.ident)
    with (
        recovered.cursor().copy(out) as reader,
        target.cursor().copy("COPY recovered FROM STDIN (FORMAT binary)") as writer,
    ):
        for block in reader:
            writer.write(block)


def _advance_sequences(target: psycopg.Connection[Any], table: _Table, columns: list[str]) -> None:
    """Serial/identity sequences must not hand out a key that a restored row now holds."""
    for column in columns:
        row = target.execute(
            "SELECT s.relnamespace::regnamespace::text, s.relname FROM pg_class s "
            "WHERE s.oid = pg_get_serial_sequence(%s, %s)::regclass",
            (table.qualified, column),
        ).fetchone()
        if row:
            sequence = sql.Identifier(row[0], row[1])
            target.execute(
                sql.SQL(
                    "SELECT setval({0}::regclass::oid, GREATEST((SELECT max({1}) FROM {2}), "
                    "(SELECT last_value FROM {3})))"
                ).format(sql.Literal(f"{row[0]}.{row[1]}"), sql.Identifier(column), table.ident, sequence)
            )
