"""A pending second factor: a sign-in that passed its first factor elsewhere (an OAuth provider) but
belongs to an account with 2FA on. The client finishes it with POST /auth/2fa/challenge."""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis

PREFIX = "neurmatic:2fa_challenge:"
TTL_SECONDS = 300


async def open_challenge(redis: aioredis.Redis, user_id: str) -> str:
    token = secrets.token_urlsafe(32)
    await redis.set(f"{PREFIX}{token}", user_id, ex=TTL_SECONDS)
    return token


async def challenge_user(redis: aioredis.Redis, token: str) -> str | None:
    value = await redis.get(f"{PREFIX}{token}")
    return value.decode() if isinstance(value, bytes) else value


async def close_challenge(redis: aioredis.Redis, token: str) -> bool:
    """Spend the challenge; False when another request spent it first."""
    return bool(await redis.delete(f"{PREFIX}{token}"))
