"""The single-use state of one sign-in, kept in Redis so any API instance can finish what another began.

A sign-in starts with a random ``state`` (sent through the provider and back), a PKCE ``code_verifier``
and, for OpenID Connect, a ``nonce``. They are stored for ten minutes under a hash of the state and taken
with ``GETDEL``, so a state works once even when two instances receive the same callback.

The state alone would let an attacker send a victim's browser to our callback with the attacker's own
code (login CSRF). So the browser also gets a random binding cookie, and the record keeps its hash: the
callback is accepted only from the browser that started the sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from neurmatic.errors import AuthenticationRequired, ServiceUnavailable

STATE_TTL_SECONDS = 600
BINDING_COOKIE = "neurmatic_oauth"
_PREFIX = "neurmatic:oauth:state:"
RESTART = "start the sign-in again"
UNAVAILABLE = "sign-in is unavailable right now; try again shortly"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def code_challenge(verifier: str) -> str:
    """PKCE S256: BASE64URL(SHA256(verifier)) without padding (RFC 7636, section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class PendingSignIn:
    """What the callback needs from the start of the sign-in."""

    provider: str
    code_verifier: str
    nonce: str
    binding_hash: str


@dataclass(frozen=True)
class Started:
    state: str
    pending: PendingSignIn
    binding: str  # the cookie value (the record only has its hash)


class StateStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def begin(self, provider: str, binding: str | None) -> Started:
        """A fresh state, verifier and nonce; ``binding`` is the browser's cookie, reused when present
        so that two sign-ins begun in two tabs both stay valid."""
        if not binding or len(binding) > 100:
            binding = secrets.token_urlsafe(32)
        state = secrets.token_urlsafe(32)
        pending = PendingSignIn(
            provider=provider,
            # 64 URL-safe characters: within RFC 7636's 43-128 and its unreserved alphabet.
            code_verifier=secrets.token_urlsafe(48),
            nonce=secrets.token_urlsafe(24),
            binding_hash=_digest(binding),
        )
        try:
            await self.redis.set(_PREFIX + _digest(state), json.dumps(asdict(pending)), ex=STATE_TTL_SECONDS)
        except RedisError as exc:
            raise ServiceUnavailable(UNAVAILABLE) from exc
        return Started(state, pending, binding)

    async def discard(self, state: str) -> None:
        """Forget a state without using it (the provider reported an error)."""
        try:
            await self.redis.delete(_PREFIX + _digest(state))
        except RedisError as exc:
            raise ServiceUnavailable(UNAVAILABLE) from exc

    async def consume(self, state: str, provider: str, binding: str | None) -> PendingSignIn:
        """Take the state (once), and check it belongs to this provider and this browser."""
        try:
            raw = await self.redis.getdel(_PREFIX + _digest(state))
        except RedisError as exc:
            raise ServiceUnavailable(UNAVAILABLE) from exc
        if raw is None:
            raise AuthenticationRequired(f"this sign-in link is unknown, expired or already used; {RESTART}")
        pending = PendingSignIn(**json.loads(raw))
        if pending.provider != provider:
            raise AuthenticationRequired(f"this sign-in was started with another provider; {RESTART}")
        if not binding or not hmac.compare_digest(_digest(binding), pending.binding_hash):
            raise AuthenticationRequired(
                f"this sign-in was started in another browser (or cookies are blocked); {RESTART}"
            )
        return pending
