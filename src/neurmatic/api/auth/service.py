"""Registration, login (with lockout and 2FA), refresh rotation with reuse detection, logout.

Services raise errors of the error tree (never HTTP errors); the router turns results into bodies.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.api.auth.schemas import LoginRequest, RegisterRequest, TokenPair
from neurmatic.api.auth.tokens import new_token_id
from neurmatic.api.security.rate_limit import Limit
from neurmatic.api.state import AppClients
from neurmatic.domain.sessions.store import Successor
from neurmatic.domain.users import passwords
from neurmatic.domain.users.models import Status, User
from neurmatic.domain.users.twofactor import check_second_factor
from neurmatic.errors import AuthenticationRequired, Conflict, RateLimited, ValidationFailed

log = logging.getLogger("neurmatic.auth")
WRONG_CREDENTIALS = "the email or password is wrong"

# How long after a rotation the token just spent may be presented again and get the same successor pair
# instead of revoking the session as reuse: the client lost the response (a dropped connection, a Wi-Fi or
# mobile network change, a double reload) and retries at once. Short, so a stolen token is still caught:
# outside it, for an older token, or once the successor itself was used, reuse revokes as before. Tests
# shorten it; 0 turns the grace off. (A candidate for a setting, next to REFRESH_TOKEN_EXPIRES_IN.)
REFRESH_GRACE_SECONDS: float = 10.0


@dataclass(frozen=True)
class Issued:
    user: User
    session_id: str
    tokens: TokenPair


async def limit_two_factor(clients: AppClients, user_id: str) -> None:
    """The per-account limit on second-factor attempts (login, setup, disable, challenge share it)."""
    await clients.limiter.enforce(
        "2fa:user",
        user_id,
        Limit.parse(clients.settings.rate_limit.two_factor),
        "too many two-factor attempts; wait before trying again",
    )


class AuthService:
    def __init__(self, clients: AppClients, db: AsyncSession) -> None:
        self.clients = clients
        self.db = db
        self.settings = clients.settings

    async def register(self, data: RegisterRequest, ip: str) -> User:
        limits = self.settings.rate_limit
        await self.clients.limiter.enforce(
            "register:ip",
            ip,
            Limit.parse(limits.sign_up),
            "too many sign-ups from this address; try again later",
        )
        if not data.terms_accepted:
            raise ValidationFailed(
                "the terms must be accepted", details=[{"field": "termsAccepted", "message": "must be true"}]
            )
        problems = passwords.password_problems(data.password, email=data.email, username=data.username)
        if problems:
            raise ValidationFailed(
                "the password is too weak: " + "; ".join(problems),
                details=[{"field": "password", "message": p} for p in problems],
            )
        taken = await self.db.scalar(
            select(User).where(
                or_(User.email == data.email, func.lower(User.username) == data.username.lower())
            )
        )
        if taken is not None:
            field = "email" if taken.email == data.email else "username"
            raise Conflict(
                f"this {field} is already registered", details=[{"field": field, "message": "taken"}]
            )
        user = User(
            email=data.email,
            username=data.username,
            password_hash=await passwords.hash_password(data.password, self.settings.auth.bcrypt_rounds),
            terms_accepted_at=datetime.now(UTC),
        )
        self.db.add(user)
        await self.db.flush()
        return user

    async def login(self, data: LoginRequest, ip: str, user_agent: str) -> Issued:
        limit = Limit.parse(self.settings.rate_limit.login)
        await self.clients.limiter.enforce(
            "login:ip", ip, limit, "too many sign-in attempts from this address"
        )
        await self._refuse_if_locked(data.email)
        user = await self.db.scalar(select(User).where(User.email == data.email))
        valid = await passwords.verify_password(
            data.password, user.password_hash if user else None, self.settings.auth.bcrypt_rounds
        )
        if user is None or not valid:
            await self._count_failure(data.email)
            raise AuthenticationRequired(WRONG_CREDENTIALS)
        if user.status is not Status.ACTIVE:
            raise AuthenticationRequired(f"this account is {user.status.value}; contact support")
        if user.totp_enabled:
            await self._check_totp(user, data.totp)
        await self.clients.limiter.reset("login:failures", data.email)
        await self._upgrade_hash(user, data.password)
        user.last_login_at = datetime.now(UTC)
        return await self.issue(user, ip=ip, user_agent=user_agent)

    async def _check_totp(self, user: User, code: str | None) -> None:
        if not code:
            raise AuthenticationRequired(
                "enter the code from your authenticator app", details={"twoFactorRequired": True}
            )
        await limit_two_factor(self.clients, str(user.id))
        if not await check_second_factor(self.db, self.clients.redis, user, code, self.clients.csrf_secret):
            await self._count_failure(user.email)
            raise AuthenticationRequired("the two-factor code is wrong", details={"twoFactorRequired": True})

    async def _refuse_if_locked(self, email: str) -> None:
        failures, seconds_left = await self.clients.limiter.peek("login:failures", email)
        if failures >= self.settings.auth.login_max_failures:
            wait = max(1, seconds_left)
            raise RateLimited(
                f"too many failed sign-ins: this account is locked for {-(-wait // 60)} more minute(s)",
                retry_after=wait,
                details={"locked": True, "retryAfterSeconds": wait},
            )

    async def _count_failure(self, email: str) -> None:
        auth = self.settings.auth
        await self.clients.limiter.hit(
            "login:failures", email, Limit(auth.login_max_failures, int(auth.login_lockout.total_seconds()))
        )

    async def _upgrade_hash(self, user: User, password: str) -> None:
        """Re-hash on login when BCRYPT_ROUNDS changed since the hash was made: up for strength, and down
        too, because checking a costlier hash than the dummy's takes longer and would tell this email
        is registered (a cheaper one is topped up, see ``passwords.verification_plan``)."""
        rounds = self.settings.auth.bcrypt_rounds
        if user.password_hash and passwords.hash_rounds(user.password_hash) != rounds:
            user.password_hash = await passwords.hash_password(password, rounds)

    async def issue(self, user: User, *, ip: str, user_agent: str) -> Issued:
        """A new session (one device) and its first token pair."""
        jti = new_token_id()
        sid = await self.clients.sessions.create(str(user.id), jti, ip=ip, user_agent=user_agent)
        return Issued(user, sid, self._pair(user, sid, jti))

    def _pair(self, user: User, sid: str, jti: str) -> TokenPair:
        codec = self.clients.tokens
        return TokenPair(
            access_token=codec.access_token(str(user.id), sid, user.role.value),
            refresh_token=codec.refresh_token(str(user.id), sid, jti),
            expires_in=codec.access_ttl,
        )

    def _successor_pair(self, user: User, sid: str, successor: Successor) -> TokenPair:
        """The pair a rotation issued, signed from its ids and issue time: the same text every time."""
        codec = self.clients.tokens
        uid = str(user.id)
        return TokenPair(
            access_token=codec.access_token(
                uid, sid, user.role.value, token_id=successor.access_jti, issued_at=successor.issued_at
            ),
            refresh_token=codec.refresh_token(uid, sid, successor.refresh_jti, issued_at=successor.issued_at),
            expires_in=codec.access_ttl,
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        claims = self.clients.tokens.decode_refresh(refresh_token)
        # The account first: the pair is signed before the rotation, which stores what re-signs it.
        user = await self.db.get(User, uuid.UUID(claims.user_id))
        if user is None or user.status is not Status.ACTIVE:
            await self.clients.sessions.revoke(claims.session_id, claims.user_id)
            raise AuthenticationRequired("this account is not active")
        rotation = await self.clients.sessions.rotate(
            claims.session_id,
            claims.user_id,
            refresh_token,
            claims.token_id,
            Successor.new(),
            grace_seconds=REFRESH_GRACE_SECONDS,
        )
        if rotation.outcome == "reused":
            log.warning("refresh token reuse: session revoked", extra={"user_id": claims.user_id})
            raise AuthenticationRequired(
                "this refresh token was already used; the session is revoked for safety"
            )
        if rotation.outcome == "retried":
            # Never the tokens: only that a lost response was retried.
            log.info("refresh retried within the grace window", extra={"user_id": claims.user_id})
        elif rotation.outcome != "rotated":
            raise AuthenticationRequired("this session has ended; sign in again")
        assert rotation.successor is not None
        return self._successor_pair(user, claims.session_id, rotation.successor)
