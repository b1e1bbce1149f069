"""Models → response bodies."""

from __future__ import annotations

from neurmatic.api.auth.schemas import UserOut
from neurmatic.api.users.models import User


def user_out(user: User) -> UserOut:
    return UserOut(
        id=str(user.id),
        email=user.email,
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        role=user.role.value,
        status=user.status.value,
        email_verified=user.email_verified,
        two_factor_enabled=user.totp_enabled,
        created_at=user.created_at.isoformat(),
    )
