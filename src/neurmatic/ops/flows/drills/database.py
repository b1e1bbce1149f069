"""The drill's direct database work: its user, the RPO lookup, and removing what the load wrote.

These go through the application's own ``DATABASE_URL`` (every host, ``target_session_attrs=
read-write``), so after a PostgreSQL failover they reach the new primary like the API does. The drill
user is made here rather than by registering through the API: registration is rate limited per address
and would leave a verification mail per drill.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, select

from neurmatic.db.engines import Database
from neurmatic.domain.articles.models import Article
from neurmatic.domain.users.models import Role, Status, User
from neurmatic.domain.users.passwords import hash_password
from neurmatic.errors import NeurmaticError
from neurmatic.polling import poll
from neurmatic.settings import Settings

DRILL_EMAIL = "dr-drill@example.com"  # RFC 2606: never a real mailbox
DRILL_USERNAME = "dr-drill"
LOOKUP_RETRY_SECONDS = 30.0
LOOKUP_BATCH = 500


class DrillDataUnavailable(NeurmaticError):
    """The database could not be asked which acknowledged writes survived (so the RPO is unknown)."""


def ensure_drill_user(settings: Settings) -> str:
    """Create (or reset) the drill user, an ordinary active account; its new random password.

    A fresh password per drill means no drill credential is stored anywhere.
    """
    password = secrets.token_urlsafe(24)
    asyncio.run(_ensure_drill_user(settings, password))
    return password


async def _ensure_drill_user(settings: Settings, password: str) -> None:
    db = Database(settings.database)
    try:
        async with db.session() as session:
            user = await session.scalar(select(User).where(User.email == DRILL_EMAIL))
            if user is None:
                user = User(email=DRILL_EMAIL, username=DRILL_USERNAME, email_verified_at=datetime.now(UTC))
                session.add(user)
            user.password_hash = await hash_password(password, settings.auth.bcrypt_rounds)
            user.role, user.status = Role.USER, Status.ACTIVE
            await session.commit()
    finally:
        await db.close()


def surviving_refs(
    settings: Settings, refs: list[str], *, retry_for: float = LOOKUP_RETRY_SECONDS
) -> set[str]:
    """Which of ``refs`` (article ids) exist now; retried while the primary is unreachable."""
    # asyncpg's, SQLAlchemy's and OS errors alike while a primary is missing: tried again
    polled = poll(
        lambda: asyncio.run(_surviving(settings, refs)), timeout=retry_for, interval=1.0, done=lambda _: True
    )
    if polled.done and polled.value is not None:
        return polled.value
    raise DrillDataUnavailable(  # the probe only fails by raising: polled.last_error is that error
        f"could not look the acknowledged writes up: {type(polled.last_error).__name__} ({polled.why})",
        hint="the RPO is unknown: check `neurmatic health` and the PostgreSQL logs",
    ) from polled.last_error


async def _surviving(settings: Settings, refs: list[str]) -> set[str]:
    db = Database(settings.database)
    found: set[str] = set()
    try:
        async with db.session() as session:
            for start in range(0, len(refs), LOOKUP_BATCH):
                ids = [uuid.UUID(ref) for ref in refs[start : start + LOOKUP_BATCH]]
                rows = await session.scalars(select(Article.id).where(Article.id.in_(ids)))
                found.update(str(row) for row in rows)
    finally:
        await db.close()
    return found


def remove_drill_writes(settings: Settings, run_id: str) -> int:
    """Delete every draft this run wrote (acknowledged or not); how many."""
    return asyncio.run(_remove(settings, run_id))


async def _remove(settings: Settings, run_id: str) -> int:
    db = Database(settings.database)
    try:
        async with db.session() as session:
            author = select(User.id).where(User.email == DRILL_EMAIL).scalar_subquery()
            result = await session.execute(
                delete(Article).where(Article.author_id == author, Article.title.like(f"DR drill {run_id} %"))
            )
            await session.commit()
            return int(getattr(result, "rowcount", 0) or 0)
    finally:
        await db.close()
