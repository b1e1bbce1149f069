"""Request and response bodies of /auth (camelCase on the wire, as the original API's clients expect)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field
from pydantic.alias_generators import to_camel

from neurmatic.domain.users.names import USERNAME_RULE, is_valid_username


def _lower(value: str) -> str:
    return value.strip().lower()


def _username(value: str) -> str:
    if not is_valid_username(value):
        raise ValueError(USERNAME_RULE)
    return value


Email = Annotated[EmailStr, AfterValidator(_lower)]
Username = Annotated[str, AfterValidator(_username)]


class Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=False
    )


class RegisterRequest(Body):
    email: Email
    username: Username
    password: str = Field(min_length=1, max_length=200)
    terms_accepted: bool = Field(description="Must be true: the user accepts the terms of service")


class LoginRequest(Body):
    email: Email
    password: str = Field(min_length=1, max_length=200)
    totp: str | None = Field(None, max_length=20, description="A TOTP code or a backup code, when 2FA is on")
    use_cookies: bool = Field(False, description="Also set an httpOnly access cookie and a CSRF cookie")


class RefreshRequest(Body):
    refresh_token: str = Field(min_length=1, max_length=2000)


class UserOut(Body):
    id: str
    email: str
    username: str
    display_name: str | None
    bio: str | None
    role: str
    status: str
    email_verified: bool
    two_factor_enabled: bool
    created_at: str


class TokenPair(Body):
    access_token: str
    refresh_token: str
    expires_in: int = Field(description="Seconds until the access token expires")
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret


class LoginResponse(TokenPair):
    user: UserOut
