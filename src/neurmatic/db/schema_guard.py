"""Expand-only migrations: a release's Alembic migrations run in one transaction that is committed only
when nothing the running release may still use was dropped or narrowed.

During a rolling deploy the old and the new release serve side by side, and a rollback brings the old
one back, so the schema change that precedes them must suit both: add tables and nullable (or
defaulted) columns, widen types, add enum values; never drop, rename, narrow or tighten. Tightening
includes a new (or changed) CHECK, UNIQUE, EXCLUDE, FOREIGN KEY or PRIMARY KEY constraint, or a unique
index, on columns the running release already writes (the old code's inserts would start failing), and
an enum value taken away. PostgreSQL DDL is transactional, so a migration that breaks the rule is rolled
back as if it never ran.

This file is also a script that a *release's* interpreter runs (``releases/<v>/venv/bin/python -I
schema_guard.py --migrations DIR``), so that release's migrations and models are the ones imported.
Hence only the standard library at import time; Alembic, SQLAlchemy and psycopg (the release
environment's) are imported in :func:`main`. It prints one JSON line; exit 0 applied (or nothing to
do), 3 refused, anything else failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

REFUSED_EXIT = 3


@dataclass(frozen=True)
class Column:
    type: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    has_default: bool = False

    def describe(self) -> str:
        size = self.length if self.length is not None else self.precision
        suffix = f"({size}{',' + str(self.scale) if self.scale else ''})" if size is not None else ""
        return f"{self.type}{suffix}{'' if self.nullable else ' NOT NULL'}"


Schema = dict[str, dict[str, Column]]  # "schema.table" -> column name -> Column

# Type changes that keep every value the old type could hold and that old code can still write.
_WIDER_TYPES = {
    ("character", "character varying"),
    ("character", "text"),
    ("character varying", "text"),
    ("smallint", "integer"),
    ("smallint", "bigint"),
    ("integer", "bigint"),
    ("real", "double precision"),
    ("smallint", "numeric"),
    ("integer", "numeric"),
    ("bigint", "numeric"),
}


def _at_least(new: int | None, old: int | None) -> bool:
    """``new`` allows at least what ``old`` allowed (None: unlimited)."""
    return new is None or (old is not None and new >= old)


def _widened(old: Column, new: Column) -> bool:
    if old.type != new.type:
        return (old.type, new.type) in _WIDER_TYPES and (new.type != "numeric" or new.precision is None)
    if old.type == "numeric":
        if new.precision is None:
            return True
        if old.precision is None:
            return False
        old_scale, new_scale = old.scale or 0, new.scale or 0
        return new_scale >= old_scale and new.precision - new_scale >= old.precision - old_scale
    return _at_least(new.length, old.length) and (
        new.precision == old.precision or _at_least(new.precision, old.precision)
    )


def contract_changes(before: Schema, after: Schema) -> list[str]:
    """What a migration took away from ``before``: empty when it only expanded the schema."""
    problems: list[str] = []
    for table, columns in sorted(before.items()):
        if table not in after:
            problems.append(f"table {table} was dropped (or renamed)")
            continue
        for name, old in sorted(columns.items()):
            new = after[table].get(name)
            if new is None:
                problems.append(f"column {table}.{name} was dropped (or renamed)")
                continue
            shape = (old.type, old.length, old.precision, old.scale)
            if shape != (new.type, new.length, new.precision, new.scale) and not _widened(old, new):
                problems.append(f"column {table}.{name} was narrowed: {old.describe()} -> {new.describe()}")
            if old.nullable and not new.nullable:
                problems.append(f"column {table}.{name} became NOT NULL")
        for name, new in sorted(after[table].items()):
            if name not in columns and not new.nullable and not new.has_default:
                problems.append(
                    f"new column {table}.{name} is NOT NULL without a default "
                    "(the running release's inserts would fail)"
                )
    return problems


@dataclass(frozen=True)
class Rule:
    """A constraint or unique index: what it enforces (its definition without its name) and on which
    columns (empty: an expression, which may read any column)."""

    table: str
    kind: str
    definition: str
    columns: tuple[str, ...]


_RULE_KINDS = {
    "c": "CHECK",
    "u": "UNIQUE",
    "x": "EXCLUDE",
    "f": "FOREIGN KEY",
    "p": "PRIMARY KEY",
    "i": "unique index",
}
Enums = dict[str, tuple[str, ...]]  # "schema.type" -> its labels


def tightened_rules(before: set[Rule], after: set[Rule], existing: Schema) -> list[str]:
    """New or changed rules that bind a column the running release already writes.

    A rule on new columns only is an expansion: the running release never writes them. A renamed
    constraint keeps its definition, so it is not new.
    """
    problems = []
    for rule in sorted(after - before, key=lambda r: (r.table, r.kind, r.definition)):
        old_columns = set(existing.get(rule.table, {}))
        if not old_columns:
            continue  # a new table: nothing runs against it yet
        bound = sorted(old_columns.intersection(rule.columns)) if rule.columns else ["(an expression)"]
        if bound:
            problems.append(
                f"new {_RULE_KINDS.get(rule.kind, rule.kind)} on {rule.table} ({', '.join(bound)}): "
                f"{rule.definition} (the running release's writes could now fail)"
            )
    return problems


def removed_enum_values(before: Enums, after: Enums) -> list[str]:
    problems = []
    for name, labels in sorted(before.items()):
        if name not in after:
            problems.append(f"enum type {name} was dropped (or renamed)")
        elif missing := [label for label in labels if label not in after[name]]:
            problems.append(
                f"enum type {name} lost the values {', '.join(missing)} (old rows and code use them)"
            )
    return problems


RULES_SQL = """
SELECT n.nspname || '.' || t.relname, con.contype, pg_get_constraintdef(con.oid),
       ARRAY(SELECT a.attname FROM pg_attribute a
             WHERE a.attrelid = con.conrelid AND a.attnum = ANY(con.conkey) ORDER BY a.attnum)
FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE con.contype IN ('c', 'u', 'x', 'f', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND left(n.nspname, 8) <> 'pg_toast'
UNION ALL
SELECT n.nspname || '.' || t.relname, 'i',
       regexp_replace(pg_get_indexdef(x.indexrelid), '^CREATE UNIQUE INDEX \\S+ ON ', ''),
       CASE WHEN 0 = ANY(x.indkey::int2[]) OR x.indpred IS NOT NULL THEN ARRAY[]::name[]
            ELSE ARRAY(SELECT a.attname FROM pg_attribute a
                       WHERE a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey::int2[]) ORDER BY a.attnum)
       END
FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE x.indisunique
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND left(n.nspname, 8) <> 'pg_toast'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid)
"""

ENUMS_SQL = """
SELECT n.nspname || '.' || t.typname, e.enumlabel
FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND left(n.nspname, 8) <> 'pg_toast'
ORDER BY 1, e.enumsortorder
"""


def rules(rows: Iterable[Sequence[Any]]) -> set[Rule]:
    return {
        Rule(str(table), str(kind), str(definition), tuple(columns))
        for table, kind, definition, columns in rows
    }


def enums(rows: Iterable[Sequence[Any]]) -> Enums:
    found: dict[str, list[str]] = {}
    for name, label in rows:
        found.setdefault(str(name), []).append(str(label))
    return {name: tuple(labels) for name, labels in found.items()}


@dataclass(frozen=True)
class Snapshot:
    """What the running release relies on: columns, the rules on them, enum values."""

    columns: Schema
    rules: set[Rule]
    enums: Enums

    @classmethod
    def take(cls, conn: Any) -> Snapshot:
        return cls(
            snapshot(conn.exec_driver_sql(SNAPSHOT_SQL).all()),
            rules(conn.exec_driver_sql(RULES_SQL).all()),
            enums(conn.exec_driver_sql(ENUMS_SQL).all()),
        )

    def contractions_to(self, after: Snapshot) -> list[str]:
        """Everything ``after`` took away from or tightened in this schema: empty for an expansion."""
        return [
            *contract_changes(self.columns, after.columns),
            *tightened_rules(self.rules, after.rules, self.columns),
            *removed_enum_values(self.enums, after.enums),
        ]


SNAPSHOT_SQL = """
SELECT table_schema || '.' || table_name, column_name,
       CASE WHEN data_type IN ('USER-DEFINED', 'ARRAY') THEN udt_name ELSE data_type END,
       character_maximum_length, numeric_precision, numeric_scale, is_nullable = 'YES',
       column_default IS NOT NULL OR is_identity = 'YES' OR is_generated = 'ALWAYS'
FROM information_schema.columns
WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND left(table_schema, 8) <> 'pg_toast'
"""


def snapshot(rows: Iterable[Sequence[Any]]) -> Schema:
    """The schema from :data:`SNAPSHOT_SQL`'s rows."""
    schema: Schema = {}
    for table, column, type_, length, precision, scale, nullable, has_default in rows:
        schema.setdefault(str(table), {})[str(column)] = Column(
            str(type_), length, precision, scale, bool(nullable), bool(has_default)
        )
    return schema


class _Borrowed:
    """An "engine" whose ``connect()`` lends our open connection (inside our transaction) to env.py."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @contextmanager
    def connect(self) -> Iterator[Any]:
        yield self.connection

    def dispose(self) -> None:
        """Nothing to dispose: the connection is ours."""


def main(argv: list[str] | None = None) -> int:
    """Run the migrations in ``--migrations`` against ``$NEURMATIC_MIGRATION_DSN`` in one transaction."""
    import psycopg
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    parser = argparse.ArgumentParser(prog="schema_guard")
    parser.add_argument("--migrations", required=True)
    parser.add_argument("--check", action="store_true", help="refuse anything but an expansion")
    parser.add_argument("--lock-timeout", default="5s")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\d+(ms|s)?", args.lock_timeout):
        parser.error("--lock-timeout: a number of ms or s")
    dsn = os.environ["NEURMATIC_MIGRATION_DSN"]
    attrs = os.environ.get("NEURMATIC_MIGRATION_SESSION_ATTRS", "read-write")
    engine = create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(dsn, target_session_attrs=attrs, connect_timeout=5),
        poolclass=NullPool,
    )
    config = Config()
    config.set_main_option("script_location", args.migrations)
    script = ScriptDirectory.from_config(config)
    started = time.monotonic()
    result: dict[str, Any] = {"from": None, "to": None, "ahead": False, "problems": []}
    with engine.connect() as conn:
        transaction = conn.begin()
        # Never queue behind a long transaction while holding a lock every request then waits for.
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{args.lock_timeout}'")
        current = MigrationContext.configure(conn).get_current_revision()
        result["from"] = result["to"] = current
        if current is not None and not _known(script, current):
            # The database is ahead of this release (a rollback after an expanding deploy): nothing to do.
            result["ahead"] = True
            transaction.rollback()
            return _emit(result, started, 0)
        before = Snapshot.take(conn)
        config.attributes["engine"] = _Borrowed(conn)
        config.attributes["connection"] = conn
        # Migrations that would leave the transaction (CREATE INDEX CONCURRENTLY) stay inside it here.
        config.attributes["neurmatic_single_transaction"] = True
        command.upgrade(config, "head")
        result["to"] = MigrationContext.configure(conn).get_current_revision()
        result["problems"] = before.contractions_to(Snapshot.take(conn)) if args.check else []
        if result["problems"]:
            transaction.rollback()
            return _emit(result, started, REFUSED_EXIT)
        transaction.commit()
    return _emit(result, started, 0)


def _known(script: Any, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic's ResolutionError and kin: a revision this release has never heard of
        return False


def _emit(result: dict[str, Any], started: float, code: int) -> int:
    result["duration_seconds"] = round(time.monotonic() - started, 3)
    print(json.dumps(result), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
