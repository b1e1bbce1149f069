"""Password hashing (bcrypt at ``BCRYPT_ROUNDS``, off the event loop) and the password policy."""

from __future__ import annotations

import asyncio
import functools
import re

import bcrypt

MIN_LENGTH = 10
MAX_BYTES = 72  # bcrypt ignores (newer versions refuse) anything past 72 bytes
MIN_ROUNDS = 4  # bcrypt's own floor


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


@functools.cache
def dummy_hash(rounds: int) -> bytes:
    """A throw-away hash made at cost ``rounds``: checking a password against it costs what checking a
    real hash of that cost does. (It was made once at cost 4 whatever BCRYPT_ROUNDS said, so an unknown
    email answered in 16 ms where a wrong password took 340: the timing told which emails are registered.)"""
    return bcrypt.hashpw(b"neurmatic-timing-equaliser", bcrypt.gensalt(rounds=rounds))


def prepare_dummy_hashes(rounds: int) -> None:
    """Make every dummy hash a verification at ``rounds`` may need, so the first sign-ins after a start
    do not pay for making one (about one hash at ``rounds`` in all)."""
    for cost in range(MIN_ROUNDS, rounds + 1):
        dummy_hash(cost)


def hash_rounds(hashed: str | bytes) -> int:
    """The cost factor a stored hash was made with (``$2b$12$...`` → 12)."""
    text = hashed.decode() if isinstance(hashed, bytes) else hashed
    return int(text.split("$")[2])


def _usable(hashed: str | None) -> bytes | None:
    """The stored hash when it is a bcrypt hash, else None (no password: an OAuth-only account)."""
    if not hashed:
        return None
    try:
        hash_rounds(hashed)
    except (IndexError, ValueError):
        return None
    return hashed.encode()


def verification_plan(hashed: str | None, rounds: int) -> list[bytes]:
    """The hashes one verification checks the password against, so that every verification does the
    work of one hash at ``rounds`` (2**rounds bcrypt iterations), whoever the email belongs to.

    First the stored hash, or the dummy at ``rounds`` when there is none (unknown email, an account
    without a password). A stored hash made at a lower cost ``r`` (before BCRYPT_ROUNDS was raised, until
    its next sign-in upgrades it) is topped up with dummies at ``r .. rounds-1``: 2**r + (2**r + ... +
    2**(rounds-1)) = 2**rounds. Only the first check decides the answer."""
    stored = _usable(hashed)
    if stored is None:
        return [dummy_hash(rounds)]
    return [stored, *(dummy_hash(cost) for cost in range(hash_rounds(stored), rounds))]


def _verify(password: str, hashed: str | None, rounds: int) -> bool:
    candidate = password.encode()[:MAX_BYTES]
    first, *padding = verification_plan(hashed, rounds)
    matched = bcrypt.checkpw(candidate, first)
    for extra in padding:
        bcrypt.checkpw(candidate, extra)
    return matched and _usable(hashed) is not None


async def hash_password(password: str, rounds: int) -> str:
    return await asyncio.to_thread(_hash, password, rounds)


async def verify_password(password: str, hashed: str | None, rounds: int) -> bool:
    """True when ``password`` matches ``hashed``. Costs one hash at ``rounds`` (BCRYPT_ROUNDS) whether
    the hash exists, is missing (unknown user, no password) or was made at a lower cost."""
    return await asyncio.to_thread(_verify, password, hashed, rounds)
