"""The expand-only rule beyond columns, on a real PostgreSQL: new constraints and unique indexes on the
running release's columns, and enum values taken away, are contractions; the same on new columns or new
tables, an added enum value or a renamed constraint are not."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from neurmatic.db.schema_guard import Snapshot
from tests.conftest import RunningTopology

BASE_SCHEMA = [
    "CREATE TYPE mood AS ENUM ('happy', 'sad')",
    "CREATE TABLE teams (id int PRIMARY KEY)",
    "CREATE TABLE people (id int PRIMARY KEY, email text, age int, mood mood, note text CHECK (note <> ''))",
]


@pytest.fixture(scope="module")
def engine(topology: RunningTopology) -> Iterator[sa.Engine]:
    name = f"guard_{uuid.uuid4().hex[:8]}"
    with topology.superuser() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    state = topology.state
    url = sa.URL.create(
        "postgresql+psycopg",
        username="postgres",
        password=state.secrets["POSTGRES_SUPERUSER_PASSWORD"],
        host="127.0.0.1",
        port=state.ports.postgres(1),
        database=name,
    )
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        for statement in BASE_SCHEMA:
            conn.exec_driver_sql(statement)
    try:
        yield engine
    finally:
        engine.dispose()
        with topology.superuser() as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _problems(engine: sa.Engine, *migration: str) -> list[str]:
    """What the guard says of ``migration``, run in a transaction that is always rolled back."""
    with engine.connect() as conn, conn.begin() as transaction:
        before = Snapshot.take(conn)
        for statement in migration:
            conn.exec_driver_sql(statement)
        problems = before.contractions_to(Snapshot.take(conn))
        transaction.rollback()
    return problems


@pytest.mark.parametrize(
    ("migration", "expected"),
    [
        (
            ["ALTER TABLE people ADD CONSTRAINT one_email UNIQUE (email)"],
            "new UNIQUE on public.people (email)",
        ),
        (["ALTER TABLE people ADD CHECK (age >= 0)"], "new CHECK on public.people (age): CHECK ((age >= 0))"),
        (["CREATE UNIQUE INDEX people_email_ci ON people (lower(email))"], "(an expression)"),
        (
            ["ALTER TABLE people ADD FOREIGN KEY (age) REFERENCES teams (id)"],
            "new FOREIGN KEY on public.people",
        ),
        (
            [
                "ALTER TABLE people DROP CONSTRAINT people_note_check",
                "ALTER TABLE people ADD CONSTRAINT people_note_check CHECK (length(note) > 3)",
            ],
            "new CHECK on public.people (note)",
        ),
        (
            [
                "ALTER TYPE mood RENAME TO mood_old",
                "CREATE TYPE mood AS ENUM ('happy')",
                "ALTER TABLE people ALTER COLUMN mood TYPE mood USING mood::text::mood",
                "DROP TYPE mood_old",
            ],
            "enum type public.mood lost the values sad",
        ),
    ],
)
def test_tightening_what_the_running_release_writes_is_refused(
    engine: sa.Engine, migration: list[str], expected: str
) -> None:
    problems = _problems(engine, *migration)
    assert len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize(
    "migration",
    [
        [
            "ALTER TABLE people ADD COLUMN nickname text UNIQUE",
            "ALTER TABLE people ADD COLUMN team_id int REFERENCES teams (id) CHECK (team_id > 0)",
            "CREATE UNIQUE INDEX people_nickname_ci ON people (nickname, team_id)",
        ],
        ["CREATE TABLE badges (id int PRIMARY KEY, code text UNIQUE CHECK (code <> ''))"],
        ["ALTER TYPE mood ADD VALUE 'calm'"],
        ["ALTER TABLE people RENAME CONSTRAINT people_pkey TO people_pk"],
        ["ALTER TABLE people DROP CONSTRAINT people_note_check"],
    ],
)
def test_expansions_and_loosenings_pass(engine: sa.Engine, migration: list[str]) -> None:
    assert _problems(engine, *migration) == []
