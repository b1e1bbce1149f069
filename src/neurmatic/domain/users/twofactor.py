"""TOTP two-factor authentication: the secret (encrypted at rest), the otpauth:// URI, codes that work
once (the accepted time steps are recorded in Redis), and ten single-use backup codes stored hashed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

import pyotp
import redis.asyncio as aioredis
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.domain.users.models import TotpBackupCode, User
from neurmatic.errors import AuthenticationRequired

ISSUER = "Neurmatic"
BACKUP_CODES = 10
STEP_SECONDS = 30  # pyotp's default interval, which authenticator apps use
USED_STEP_PREFIX = "neurmatic:totp_used:"
# A step's code is accepted from the start of the step before it to the end of the step after it.
USED_STEP_TTL_SECONDS = 3 * STEP_SECONDS + 30


def _fernet(secret: str) -> Fernet:
    key = hashlib.sha256(f"totp:{secret}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(totp_secret: str, key: str) -> str:
    return _fernet(key).encrypt(totp_secret.encode()).decode()


def decrypt_secret(token: str, key: str) -> str | None:
    try:
        return _fernet(key).decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(totp_secret: str, account: str) -> str:
    return pyotp.TOTP(totp_secret).provisioning_uri(name=account, issuer_name=ISSUER)


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


async def replace_backup_codes(db: AsyncSession, user: User) -> list[str]:
    """Ten new codes (shown once); the old ones stop working."""
    for old in (await db.scalars(select(TotpBackupCode).where(TotpBackupCode.user_id == user.id))).all():
        await db.delete(old)
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(BACKUP_CODES)]
    db.add_all(TotpBackupCode(user_id=user.id, code_hash=_hash_code(code)) for code in codes)
    return codes


def matching_step(totp_secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code ``code`` is, when that step is the current one or a neighbour (one step
    of clock drift either way, 30 s), else None."""
    totp = pyotp.TOTP(totp_secret)
    current = totp.timecode(time.time() if now is None else now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.strip().encode()):
            return step
    return None


async def spend_totp_step(redis: aioredis.Redis, user_id: str, step: int) -> bool:
    """Record that the code of ``step`` was accepted for this user; False when it already was.

    RFC 6238 §5.2: a code once accepted is refused for the rest of its validity. SET NX makes the first
    of two concurrent uses win on any instance; the record outlives the last moment the step's code
    could be accepted (the end of the step after it), plus a margin for clocks that differ."""
    key = f"{USED_STEP_PREFIX}{user_id}:{step}"
    return bool(await redis.set(key, "1", nx=True, ex=USED_STEP_TTL_SECONDS))


async def check_second_factor(
    db: AsyncSession, redis: aioredis.Redis, user: User, code: str, key: str
) -> bool:
    """True for a current TOTP code not used before, or an unused backup code; either is then spent.
    A TOTP code that was already accepted raises AuthenticationRequired (it is right, but spent)."""
    secret = decrypt_secret(user.totp_secret_encrypted or "", key)
    step = matching_step(secret, code) if secret and code.strip().isdigit() else None
    if step is not None:
        if not await spend_totp_step(redis, str(user.id), step):
            raise AuthenticationRequired(
                "this code was already used; enter the next one from your app",
                details={"twoFactorRequired": True, "codeReused": True},
            )
        return True
    backup = await db.scalar(
        select(TotpBackupCode)
        .where(
            TotpBackupCode.user_id == user.id,
            TotpBackupCode.code_hash == _hash_code(code),
            TotpBackupCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if backup is None:
        return False
    backup.used_at = datetime.now(UTC)
    return True
