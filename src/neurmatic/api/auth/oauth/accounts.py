"""Which user a provider identity signs in: the linked one, the one with that verified email, or a new one.

Linking by email is safe only because the provider verified the address. When the matching account had
*not* verified it, whoever registered it never proved they own the address (someone may have signed up
with another person's email in advance, waiting for them to arrive): its password, two-factor setup and
sessions are dropped, so only the address's owner, who just proved it, keeps access.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.api.auth.oauth.client import Identity
from neurmatic.domain.users.models import OAuthAccount, Status, TotpBackupCode, User
from neurmatic.errors import AuthenticationRequired

_NOT_USERNAME = re.compile(r"[^A-Za-z0-9_-]+")
_ATTEMPTS = 3  # concurrent first sign-ins of the same person race on the unique constraints


@dataclass(frozen=True)
class Resolved:
    user: User
    # True when an unverified account's credentials were dropped: its sessions must end too.
    credentials_reset: bool = False


def username_base(*candidates: str | None) -> str:
    """A valid username (``[A-Za-z0-9][A-Za-z0-9_-]*``) from the first usable candidate."""
    for candidate in candidates:
        if not candidate:
            continue
        ascii_text = unicodedata.normalize("NFKD", candidate).encode("ascii", "ignore").decode()
        cleaned = _NOT_USERNAME.sub("_", ascii_text).strip("_-")[:40]
        if len(cleaned) >= 3:
            return cleaned
    return "member"


async def _username_free(db: AsyncSession, name: str) -> bool:
    taken = await db.scalar(select(User.id).where(func.lower(User.username) == name.lower()))
    return taken is None


async def unique_username(db: AsyncSession, base: str) -> str:
    if await _username_free(db, base):
        return base
    for _ in range(5):
        candidate = f"{base}-{secrets.token_hex(3)}"
        if await _username_free(db, candidate):
            return candidate
    return f"{base[:30]}-{uuid.uuid4().hex[:12]}"


def _refuse_inactive(user: User) -> None:
    if user.status is not Status.ACTIVE:
        raise AuthenticationRequired(f"this account is {user.status.value}; contact support")


async def _link(db: AsyncSession, provider: str, identity: Identity, email: str) -> Resolved:
    linked = await db.scalar(
        select(OAuthAccount).where(
            OAuthAccount.provider == provider, OAuthAccount.subject == identity.subject
        )
    )
    if linked is not None:
        user = await db.get(User, linked.user_id)
        if user is None:  # pragma: no cover - the foreign key cascades, so this cannot persist
            raise AuthenticationRequired("this sign-in is linked to no account; contact support")
        _refuse_inactive(user)
        linked.email = email
        return Resolved(user)
    user = await db.scalar(select(User).where(User.email == email))
    reset = False
    if user is None:
        user = User(
            email=email,
            username=await unique_username(
                db, username_base(identity.username_hint, identity.name, email.split("@")[0])
            ),
            display_name=identity.name[:100] if identity.name else None,
            password_hash=None,
            email_verified_at=datetime.now(UTC),
            terms_accepted_at=None,  # never assumed: the product asks for it separately
        )
        db.add(user)
        await db.flush()
    else:
        _refuse_inactive(user)
        if user.email_verified_at is None:
            reset = user.password_hash is not None or user.totp_enabled
            user.password_hash = None
            user.totp_enabled = False
            user.totp_secret_encrypted = None
            await db.execute(delete(TotpBackupCode).where(TotpBackupCode.user_id == user.id))
            user.email_verified_at = datetime.now(UTC)
    db.add(OAuthAccount(user_id=user.id, provider=provider, subject=identity.subject, email=email))
    await db.flush()
    return Resolved(user, reset)


async def resolve_user(db: AsyncSession, provider: str, label: str, identity: Identity) -> Resolved:
    """The user ``identity`` signs in as, linking or creating as needed (flushed, not committed)."""
    if not identity.email or not identity.email_verified:
        raise AuthenticationRequired(
            f"{label} did not confirm a verified email address for this account; verify it with {label} "
            "or sign up with email and password"
        )
    email = identity.email.strip().lower()
    for attempt in range(_ATTEMPTS):
        try:
            async with db.begin_nested():
                resolved = await _link(db, provider, identity, email)
        except IntegrityError:
            # Another request created the same user or link a moment ago: look again, it is there now.
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        resolved.user.last_login_at = datetime.now(UTC)
        return resolved
    raise AssertionError("unreachable")  # pragma: no cover
