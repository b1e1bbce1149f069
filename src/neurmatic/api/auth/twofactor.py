"""TOTP two-factor authentication: the secret (encrypted at rest), the otpauth:// URI, and ten
single-use backup codes stored hashed."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.api.users.models import TotpBackupCode, User

ISSUER = "Neurmatic"
BACKUP_CODES = 10


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


def totp_matches(totp_secret: str, code: str) -> bool:
    return pyotp.TOTP(totp_secret).verify(code.strip(), valid_window=1)


async def check_second_factor(db: AsyncSession, user: User, code: str, key: str) -> bool:
    """True for a current TOTP code or an unused backup code (which is then spent)."""
    secret = decrypt_secret(user.totp_secret_encrypted or "", key)
    if secret and code.strip().isdigit() and totp_matches(secret, code):
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
