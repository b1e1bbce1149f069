"""JWTs: short access tokens (``JWT_SECRET``) and rotating refresh tokens (``JWT_REFRESH_SECRET``).

Both carry the session id (``sid``); an access token is honoured only while its session exists in Redis,
so revoking a session takes effect at once on every API instance.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from neurmatic.errors import AuthenticationRequired
from neurmatic.settings import AuthSettings

ALGORITHM = "HS256"
ISSUER = "neurmatic"


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    role: str
    expires_at: int


VERIFIED_TOKENS_KEPT = 10_000


@dataclass(frozen=True)
class RefreshClaims:
    user_id: str
    session_id: str
    token_id: str
    expires_at: int


def new_token_id() -> str:
    return secrets.token_urlsafe(24)


class TokenCodec:
    def __init__(self, settings: AuthSettings) -> None:
        if settings.jwt_secret is None or settings.jwt_refresh_secret is None:
            # Development without configured secrets: random per process (tokens die with a restart).
            self._access_key = secrets.token_urlsafe(48)
            self._refresh_key = secrets.token_urlsafe(48)
        else:
            self._access_key = settings.jwt_secret.get_secret_value()
            self._refresh_key = settings.jwt_refresh_secret.get_secret_value()
        self.access_ttl = int(settings.jwt_expires_in.total_seconds())
        self._verified: dict[str, AccessClaims] = {}
        self.refresh_ttl = int(settings.refresh_token_expires_in.total_seconds())

    def access_token(
        self,
        user_id: str,
        session_id: str,
        role: str,
        *,
        token_id: str | None = None,
        issued_at: int | None = None,
    ) -> str:
        """A signed access token; ``token_id`` and ``issued_at`` fixed re-sign a pair issued before (the
        refresh grace window), random and now otherwise."""
        now = int(time.time()) if issued_at is None else issued_at
        claims = {
            "sub": user_id,
            "sid": session_id,
            "role": role,
            "typ": "access",
            "iss": ISSUER,
            "iat": now,
            "exp": now + self.access_ttl,
            "jti": token_id or new_token_id(),
        }
        return jwt.encode(claims, self._access_key, algorithm=ALGORITHM)

    def refresh_token(
        self, user_id: str, session_id: str, token_id: str, *, issued_at: int | None = None
    ) -> str:
        now = int(time.time()) if issued_at is None else issued_at
        claims = {
            "sub": user_id,
            "sid": session_id,
            "jti": token_id,
            "typ": "refresh",
            "iss": ISSUER,
            "iat": now,
            "exp": now + self.refresh_ttl,
        }
        return jwt.encode(claims, self._refresh_key, algorithm=ALGORITHM)

    def _decode(self, token: str, key: str, kind: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["sub", "sid", "exp", "iat", "typ"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationRequired(f"the {kind} token has expired") from exc
        except (jwt.PyJWTError, UnicodeError) as exc:  # a JSON string may hold a lone surrogate
            raise AuthenticationRequired(f"the {kind} token is not valid") from exc
        if claims.get("typ") != kind:
            raise AuthenticationRequired(f"the {kind} token is not valid")
        return claims

    def decode_access(self, token: str) -> AccessClaims:
        """The claims of a valid, unexpired access token; AuthenticationRequired otherwise.

        A token verified once is remembered (by its whole text, signature included, so nothing else can
        match it) until it expires: a client sends the same token with every request for 15 minutes,
        and checking its signature again each time was a tenth of a signed-in read's CPU."""
        known = self._verified.get(token)
        if known is not None and known.expires_at > time.time():
            return known
        claims = self._decode(token, self._access_key, "access")
        verified = AccessClaims(
            str(claims["sub"]), str(claims["sid"]), str(claims.get("role", "user")), int(claims["exp"])
        )
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.clear()  # bounded: a flood of distinct tokens costs a re-verification, no memory
        self._verified[token] = verified
        return verified

    def decode_refresh(self, token: str) -> RefreshClaims:
        claims = self._decode(token, self._refresh_key, "refresh")
        return RefreshClaims(
            str(claims["sub"]), str(claims["sid"]), str(claims.get("jti", "")), int(claims["exp"])
        )
