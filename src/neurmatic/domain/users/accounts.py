"""Administering accounts: listing them, changing a role or a status (which ends the user's sessions)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.domain.articles.freshness import record_write
from neurmatic.domain.sessions.store import SessionStore
from neurmatic.domain.users.models import Role, Status, User
from neurmatic.errors import NotFound, ValidationFailed


async def list_accounts(db: AsyncSession, *, offset: int, limit: int) -> tuple[list[User], int]:
    """One page of the accounts, newest first, and how many there are in all."""
    total = await db.scalar(select(func.count()).select_from(User)) or 0
    users = await db.scalars(select(User).order_by(User.created_at.desc()).offset(offset).limit(limit))
    return list(users.all()), total


async def change_account(
    db: AsyncSession,
    sessions: SessionStore,
    admin: User,
    user_id: uuid.UUID,
    *,
    role: Role | None = None,
    status: Status | None = None,
) -> User:
    """Set the account's role and/or status, committed; a new role or a non-active status ends every
    session of the user. An administrator may neither demote nor suspend themselves."""
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if user.id == admin.id and (status not in (None, Status.ACTIVE) or role not in (None, Role.ADMIN)):
        raise ValidationFailed("administrators cannot demote or suspend themselves")
    if role is not None:
        user.role = role
    if status is not None:
        user.status = status
    await db.commit()
    # Signed-in lists read their reader's account on a standby that has replayed the last recorded write
    # (api.deps.check_reader_account): recorded before the sessions end, so from here on no standby
    # behind this change is read.
    try:
        await record_write(sessions.redis, db, public=False)
    finally:  # committed: the sessions end even when the recording failed
        if user.status is not Status.ACTIVE or role is not None:
            # Access tokens carry the role: end the sessions so new tokens carry the new one.
            await sessions.revoke_all(str(user.id))
    return user


async def user_by_id(db: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The account with this id, or None (an article's author, a second factor's account)."""
    return await db.get(User, user_id)
