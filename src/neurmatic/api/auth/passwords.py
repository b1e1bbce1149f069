"""Password hashing (bcrypt at ``BCRYPT_ROUNDS``, off the event loop) and the password policy."""

from __future__ import annotations

import asyncio
import re

import bcrypt

MIN_LENGTH = 10
MAX_BYTES = 72  # bcrypt ignores (newer versions refuse) anything past 72 bytes
# A verification against this hash costs as much as a real one, so an unknown email takes as long
# as a wrong password and response times do not reveal which emails are registered.
_DUMMY_HASH = bcrypt.hashpw(b"neurmatic-timing-equaliser", bcrypt.gensalt(rounds=4))


def password_problems(password: str, *, email: str = "", username: str = "") -> list[str]:
    """What is wrong with ``password`` (empty when it is acceptable), in words a user can act on."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"use at least {MIN_LENGTH} characters")
    if len(password.encode()) > MAX_BYTES:
        problems.append(f"use at most {MAX_BYTES} bytes")
    if not re.search(r"[a-z]", password) or not re.search(r"[A-Z]", password):
        problems.append("mix upper- and lower-case letters")
    if not re.search(r"\d", password):
        problems.append("include a digit")
    lowered = password.lower()
    for part in (email.partition("@")[0].lower(), username.lower()):
        if len(part) >= 4 and part in lowered:
            problems.append("do not include your email or username")
            break
    return problems


def _hash(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def _verify(password: str, hashed: str | None) -> bool:
    candidate = password.encode()[:MAX_BYTES]
    if hashed is None:
        bcrypt.checkpw(candidate, _DUMMY_HASH)
        return False
    return bcrypt.checkpw(candidate, hashed.encode())


async def hash_password(password: str, rounds: int) -> str:
    return await asyncio.to_thread(_hash, password, rounds)


async def verify_password(password: str, hashed: str | None) -> bool:
    """True when ``password`` matches; constant work even when there is no hash (unknown user)."""
    return await asyncio.to_thread(_verify, password, hashed)


def hash_rounds(hashed: str) -> int:
    """The cost factor a stored hash was made with (to re-hash when BCRYPT_ROUNDS is raised)."""
    return int(hashed.split("$")[2])
