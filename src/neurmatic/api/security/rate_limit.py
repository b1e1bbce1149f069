"""Rate limits kept in Redis, so every API instance counts the same requests.

Fixed windows (``INCR``, ``PEXPIRE … NX``, ``PTTL``, sent together: ``count_commands``): simple, one round
trip, and exact enough for abuse control. A limit is written ``COUNT/WINDOW`` (``5/15m``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from neurmatic.adapters.redis import Batch, redis_py_batch
from neurmatic.adapters.redis_pipe import PipelinedRedis
from neurmatic.durations import parse_duration
from neurmatic.errors import ConfigurationError, RateLimited

log = logging.getLogger("neurmatic.ratelimit")
PREFIX = "neurmatic:rl:"


@dataclass(frozen=True)
class Limit:
    count: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str) -> Limit:
        count, _, window = text.partition("/")
        try:
            return cls(int(count), max(1, int(parse_duration(window or "1s").total_seconds())))
        except ValueError as exc:
            raise ConfigurationError(f"rate limit {text!r} is not COUNT/WINDOW (e.g. 5/15m)") from exc


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """``headers()`` as ASGI wants them (built directly: every answer carries them)."""
        headers = [
            (b"x-ratelimit-limit", b"%d" % self.limit),
            (b"x-ratelimit-remaining", b"%d" % self.remaining),
            (b"x-ratelimit-reset", b"%d" % self.reset_seconds),
        ]
        if not self.allowed:
            headers.append((b"retry-after", b"%d" % self.reset_seconds))
        return headers

    def refusal(self) -> tuple[str, str]:
        """The error code and message of the 429 for a request over the global limit."""
        return "RATE_LIMIT_EXCEEDED", f"too many requests; try again in {self.reset_seconds} s"


def rate_key(rule: str, key: str) -> str:
    return f"{PREFIX}{rule}:{key}"


def count_commands(rate_key: str, limit: Limit) -> list[tuple[str | int, ...]]:
    """Count a request in its fixed window: the count, the window started by the first request (``NX``:
    Redis 7, which also repairs a count left without one), and the time left. The replies to read are
    the first and the third (``decision_of``)."""
    window_ms = limit.window_seconds * 1000
    return [("INCR", rate_key), ("PEXPIRE", rate_key, window_ms, "NX"), ("PTTL", rate_key)]


def decision_of(count: int, ttl_ms: int, limit: Limit) -> Decision:
    """The decision for the ``count``-th request of a window that ends in ``ttl_ms``."""
    reset = max(1, -(-int(ttl_ms) // 1000))
    return Decision(int(count) <= limit.count, limit.count, max(0, limit.count - int(count)), reset)


def fail_open(rule: str, limit: Limit, exc: Exception) -> Decision:
    """Allowed, and logged: a rate limiter that cannot count must not take the API down with it."""
    log.warning("rate limiter unavailable, allowing", extra={"rule": rule, "error": type(exc).__name__})
    return Decision(True, limit.count, limit.count, limit.window_seconds)


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, pipe: PipelinedRedis | None = None) -> None:
        self.redis = redis
        self._batch: Batch = pipe.batch if pipe is not None else redis_py_batch(redis)

    async def hit(self, rule: str, key: str, limit: Limit) -> Decision:
        """Count one request; fail open (allowed) when Redis cannot answer, and log it."""
        try:
            count, _, ttl_ms = await self._batch(count_commands(rate_key(rule, key), limit))
        except RedisError as exc:
            return fail_open(rule, limit, exc)
        return decision_of(count, ttl_ms, limit)

    async def enforce(self, rule: str, key: str, limit: Limit, message: str) -> Decision:
        """Count one request and raise RateLimited (429, Retry-After) when over the limit."""
        decision = await self.hit(rule, key, limit)
        if not decision.allowed:
            raise RateLimited(
                message,
                retry_after=decision.reset_seconds,
                details={"retryAfterSeconds": decision.reset_seconds},
            )
        return decision

    async def peek(self, rule: str, key: str) -> tuple[int, int]:
        """``(count, seconds until the window resets)`` without counting; ``(0, 0)`` when unknown."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(rate_key(rule, key))
                pipe.ttl(rate_key(rule, key))
                count, ttl = await pipe.execute()
        except RedisError:
            return 0, 0
        return int(count or 0), max(0, int(ttl))

    async def reset(self, rule: str, key: str) -> None:
        try:
            await self.redis.delete(rate_key(rule, key))
        except RedisError:
            log.warning("rate limiter unavailable, counter not reset", extra={"rule": rule})
