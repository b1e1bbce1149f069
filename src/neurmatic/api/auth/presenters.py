"""Models → response bodies."""

from __future__ import annotations

from typing import Any

from neurmatic.api.auth.schemas import LoginResponse, TokenPair, UserOut
from neurmatic.domain.users.models import User


def login_body(user: User, tokens: TokenPair) -> dict[str, Any]:
    """The body of a successful sign-in (password, OAuth or 2FA challenge): the user and the token pair."""
    return LoginResponse(user=user_out(user), **tokens.model_dump()).model_dump(by_alias=True)


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
