"""Sessions in Redis, shared by every API instance (as the operators' guide says).

A session is one login on one device: ``session:{sid}`` (a hash) plus the user's index
``user_sessions:{uid}``. It holds the id of the only refresh token that may be used next. Refreshing swaps
that id atomically (a Lua script); presenting an older token of the same session is *reuse*, a sign the
token was stolen, and deletes the whole session, so both the thief's and the owner's next refresh fail.

One exception, the *grace window*: a refresh whose response was lost (a dropped connection, a Wi-Fi or
mobile network change, a double reload) leaves the client holding the token it just spent, and it will
present it again at once. For a few seconds after a rotation, and only while the successor has not been
used itself, presenting the token that was *just* spent returns the same successor again instead of
revoking. The record that allows it, ``refresh_grace:{sha256(spent token)}``, expires with the window and
holds no token: only the successor's ids and issue time (the refresh id is the one the session hash holds
anyway), from which the caller re-signs the identical pair. The decision is part of the same Lua script
as the rotation, so concurrent retries (two tabs) all get the same pair and never revoke the session.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

SESSION_PREFIX = "neurmatic:session:"
USER_SESSIONS_PREFIX = "neurmatic:user_sessions:"
REFRESH_GRACE_PREFIX = "neurmatic:refresh_grace:"
TOUCH_EVERY_SECONDS = 60  # last-active is written at most once a minute per session

# KEYS[1] session hash, KEYS[2] user index, KEYS[3] the presented token's grace record;
# ARGV: presented jti, new jti, ttl, now, sid, grace window (ms, 0 = none), new access jti, issued at.
# Returns {outcome} or, for a retry within the grace window, {'retried', refresh jti, access jti, issued at}.
_ROTATE = """
local current = redis.call('HGET', KEYS[1], 'refresh_jti')
if not current then return {'missing'} end
if current == ARGV[1] then
  redis.call('HSET', KEYS[1], 'refresh_jti', ARGV[2], 'last_active_at', ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  if tonumber(ARGV[6]) > 0 then
    redis.call('DEL', KEYS[3])
    redis.call('HSET', KEYS[3], 'refresh_jti', ARGV[2], 'access_jti', ARGV[7], 'issued_at', ARGV[8])
    redis.call('PEXPIRE', KEYS[3], ARGV[6])
  end
  return {'rotated'}
end
local grace = redis.call('HMGET', KEYS[3], 'refresh_jti', 'access_jti', 'issued_at')
if grace[1] and grace[1] == current then
  return {'retried', grace[1], grace[2], grace[3]}
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[5])
redis.call('DEL', KEYS[3])
return {'reused'}
"""


@dataclass(frozen=True)
class Successor:
    """What a rotation issues: the next refresh token's id, the access token's id and their issue time
    (enough, with the signing keys, to sign the identical pair again)."""

    refresh_jti: str
    access_jti: str
    issued_at: int

    @classmethod
    def new(cls) -> Successor:
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(24), int(time.time()))


@dataclass(frozen=True)
class Rotation:
    """``rotated`` (``successor`` is the one passed in), ``retried`` (the token just spent was presented
    again within the grace window: ``successor`` is the one issued then), ``reused`` (the session is now
    revoked) or ``missing``."""

    outcome: str
    successor: Successor | None = None


@dataclass(frozen=True)
class SessionInfo:
    id: str
    user_id: str
    created_at: float
    last_active_at: float
    ip: str
    user_agent: str
    device: str

    @classmethod
    def from_hash(cls, sid: str, data: dict[str, str]) -> SessionInfo:
        return cls(
            sid,
            data.get("user_id", ""),
            float(data.get("created_at", 0)),
            float(data.get("last_active_at", 0)),
            data.get("ip", ""),
            data.get("user_agent", ""),
            data.get("device", ""),
        )


def describe_device(user_agent: str) -> str:
    """A short human label from the User-Agent ("Firefox on Linux"); good enough for a session list."""
    ua = user_agent.lower()
    browser = next(
        (
            name
            for key, name in (
                ("edg/", "Edge"),
                ("firefox", "Firefox"),
                ("chrome", "Chrome"),
                ("safari", "Safari"),
                ("curl", "curl"),
                ("python", "Python"),
            )
            if key in ua
        ),
        "Unknown browser",
    )
    system = next(
        (
            name
            for key, name in (
                ("android", "Android"),
                ("iphone", "iOS"),
                ("windows", "Windows"),
                ("mac os", "macOS"),
                ("linux", "Linux"),
            )
            if key in ua
        ),
        "",
    )
    return f"{browser} on {system}" if system else browser


class SessionStore:
    def __init__(self, redis: aioredis.Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self._rotate = redis.register_script(_ROTATE)

    @staticmethod
    def _user_key(user_id: str) -> str:
        return f"{USER_SESSIONS_PREFIX}{user_id}"

    async def create(self, user_id: str, refresh_jti: str, *, ip: str, user_agent: str) -> str:
        sid = secrets.token_urlsafe(18)
        now = str(time.time())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.key(sid),
                mapping={
                    "user_id": user_id,
                    "refresh_jti": refresh_jti,
                    "created_at": now,
                    "last_active_at": now,
                    "ip": ip,
                    "user_agent": user_agent[:300],
                    "device": describe_device(user_agent),
                },
            )
            pipe.expire(self.key(sid), self.ttl)
            pipe.sadd(self._user_key(user_id), sid)
            pipe.expire(self._user_key(user_id), self.ttl)
            await pipe.execute()
        return sid

    @staticmethod
    def key(sid: str) -> str:
        """The Redis hash of a session (``user_id``, ``last_active_at``, ...)."""
        return f"{SESSION_PREFIX}{sid}"

    async def is_active(self, sid: str, user_id: str) -> bool:
        """True while the session exists and belongs to ``user_id``; refreshes last-active now and then."""
        owner, last_active = await self.redis.hmget(self.key(sid), ["user_id", "last_active_at"])
        return await self.is_active_as_read(sid, user_id, owner, last_active)

    async def is_active_as_read(self, sid: str, user_id: str, owner: Any, last_active: Any) -> bool:
        """``is_active`` from the session's ``user_id`` and ``last_active_at`` read by the caller (in a
        round trip it makes anyway)."""
        if _text(owner) != user_id:
            return False
        now = time.time()
        if last_active is None or now - float(_text(last_active)) > TOUCH_EVERY_SECONDS:
            await self.redis.hset(self.key(sid), "last_active_at", str(now))
        return True

    @staticmethod
    def grace_key(spent_token: str) -> str:
        """The grace record of a spent refresh token: named by its SHA-256, never by the token itself."""
        return f"{REFRESH_GRACE_PREFIX}{hashlib.sha256(spent_token.encode()).hexdigest()}"

    async def rotate(
        self,
        sid: str,
        user_id: str,
        presented_token: str,
        presented_jti: str,
        successor: Successor,
        *,
        grace_seconds: float = 0,
    ) -> Rotation:
        """Swap the session's refresh token for ``successor`` if ``presented_jti`` is the current one; see
        the module's docstring for reuse and the grace window."""
        result = await self._rotate(
            keys=[self.key(sid), self._user_key(user_id), self.grace_key(presented_token)],
            args=[
                presented_jti,
                successor.refresh_jti,
                self.ttl,
                str(time.time()),
                sid,
                max(0, int(grace_seconds * 1000)),
                successor.access_jti,
                successor.issued_at,
            ],
        )
        outcome = _text(result[0])
        if outcome == "rotated":
            return Rotation(outcome, successor)
        if outcome == "retried":
            return Rotation(outcome, Successor(_text(result[1]), _text(result[2]), int(_text(result[3]))))
        return Rotation(outcome)

    async def list_for_user(self, user_id: str) -> list[SessionInfo]:
        sessions = []
        for raw_sid in await self.redis.smembers(self._user_key(user_id)):
            sid = _text(raw_sid)
            data = await self.redis.hgetall(self.key(sid))
            if not data:
                await self.redis.srem(self._user_key(user_id), sid)
                continue
            sessions.append(SessionInfo.from_hash(sid, {_text(k): _text(v) for k, v in data.items()}))
        return sorted(sessions, key=lambda s: s.created_at, reverse=True)

    async def revoke(self, sid: str, user_id: str) -> bool:
        owner = await self.redis.hget(self.key(sid), "user_id")
        if _text(owner) != user_id:
            return False
        await self.redis.delete(self.key(sid))
        await self.redis.srem(self._user_key(user_id), sid)
        return True

    async def revoke_all(self, user_id: str) -> int:
        sids = [_text(s) for s in await self.redis.smembers(self._user_key(user_id))]
        if sids:
            await self.redis.delete(*(self.key(s) for s in sids))
        await self.redis.delete(self._user_key(user_id))
        return len(sids)


async def prune_session_index(redis: aioredis.Redis) -> int:
    """Drop the entries of every user's session index whose session expired; how many (the cleanup cron
    job calls this: a session hash expires on its own, its entry in the index does not)."""
    pruned = 0
    async for key in redis.scan_iter(match=f"{USER_SESSIONS_PREFIX}*", count=500):
        for sid in await redis.smembers(key):
            if not await redis.exists(f"{SESSION_PREFIX}{_text(sid)}"):
                pruned += int(await redis.srem(key, sid))
    return pruned


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
