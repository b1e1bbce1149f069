"""One-time tokens for email verification and password reset.

The token travels only in the mail; the database keeps its SHA-256, so a leaked table (or backup) holds
no usable link. Each token is bound to its purpose: a reset token never verifies an email and vice versa.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.domain.users.models import OneTimeToken, Status, User


class Purpose(enum.StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose name, not a secret


# A new reset link replaces the older ones: only the latest mail can change the password. Verification
# links stay valid side by side, so the first of two mails to arrive (after a resend) still works.
SINGLE_LIVE_TOKEN = frozenset({Purpose.RESET_PASSWORD})
USED_TOKEN_RETENTION = timedelta(days=7)  # how long a used token is kept before the cleanup job deletes it


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(db: AsyncSession, user: User, purpose: Purpose, ttl: timedelta) -> str:
    """A new token for ``user`` valid for ``ttl``; the caller commits. Returns the token itself."""
    now = datetime.now(UTC)
    if purpose in SINGLE_LIVE_TOKEN:
        await db.execute(
            delete(OneTimeToken).where(
                OneTimeToken.user_id == user.id,
                OneTimeToken.purpose == purpose.value,
                OneTimeToken.used_at.is_(None),
            )
        )
    token = secrets.token_urlsafe(32)
    row = OneTimeToken(
        user_id=user.id, purpose=purpose.value, token_hash=token_hash(token), expires_at=now + ttl
    )
    db.add(row)
    await db.flush()
    return token


async def consume_token(db: AsyncSession, token: str, purpose: Purpose) -> User | None:
    """The active user ``token`` belongs to, marking it used; None when it is unknown, of another purpose,
    used or expired. The caller commits (a rollback leaves the token usable).

    ``FOR UPDATE`` makes two concurrent uses of one token wait for each other, and the second then finds
    it used: a token works once even when clicked twice at the same moment.
    """
    now = datetime.now(UTC)
    row = await db.scalar(
        select(OneTimeToken)
        .where(
            OneTimeToken.token_hash == token_hash(token),
            OneTimeToken.purpose == purpose.value,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .with_for_update()
    )
    if row is None:
        return None
    row.used_at = now
    user = await db.get(User, row.user_id)
    if user is None or user.status is not Status.ACTIVE:
        return None
    return user


async def purge_spent_tokens(db: AsyncSession, now: datetime | None = None) -> int:
    """Delete expired tokens and those used more than :data:`USED_TOKEN_RETENTION` ago, and commit; how
    many went (the cleanup cron job calls this)."""
    moment = now or datetime.now(UTC)
    result = await db.execute(
        delete(OneTimeToken).where(
            or_(OneTimeToken.expires_at < moment, OneTimeToken.used_at < moment - USED_TOKEN_RETENTION)
        )
    )
    await db.commit()
    return int(getattr(result, "rowcount", 0) or 0)
