"""Annotated dependencies: DbSession, Redis, Clients, CurrentUser, AdminUser, ClientIp.

Every dependency is ``async def``, even where it awaits nothing: FastAPI runs a plain ``def`` one in a
worker thread, a hand-off that cost more than the work on every request."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import Annotated, NoReturn

import redis.asyncio as aioredis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.api.auth.tokens import AccessClaims
from neurmatic.api.security.client_ip import client_ip
from neurmatic.api.state import AppClients, clients_of
from neurmatic.domain.users.models import Role, Status, User
from neurmatic.errors import AuthenticationRequired, Forbidden

ACCESS_COOKIE = "neurmatic_access"
CSRF_COOKIE = "neurmatic_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

bearer = HTTPBearer(auto_error=False, description="The access token from /auth/login or /auth/refresh")


async def _clients(request: Request) -> AppClients:
    return clients_of(request)


Clients = Annotated[AppClients, Depends(_clients)]


async def _db_session(clients: Clients) -> AsyncIterator[AsyncSession]:
    async with clients.db.session() as session:
        yield session


async def _redis(clients: Clients) -> aioredis.Redis:
    return clients.redis


async def _client_ip(request: Request, clients: Clients) -> str:
    return client_ip(request, clients.settings.app.trusted_proxies)


DbSession = Annotated[AsyncSession, Depends(_db_session)]
Redis = Annotated[aioredis.Redis, Depends(_redis)]
ClientIp = Annotated[str, Depends(_client_ip)]


@dataclass(frozen=True)
class Principal:
    """The authenticated user and the session the request came with."""

    user: User
    session_id: str
    via_cookie: bool


def csrf_token_for(session_id: str, secret: str) -> str:
    """The CSRF token of a session: derived, so nothing extra is stored and it dies with the session."""
    return hmac.new(secret.encode(), f"csrf:{session_id}".encode(), sha256).hexdigest()


async def _bearer_credentials(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> HTTPAuthorizationCredentials | None:
    """The Bearer token when the request sends one; 401 when it sends an Authorization header that is
    not ``Bearer <token>``. (HTTPBearer answers None for both an absent and a malformed header, so an
    optional-auth route served a client whose credentials it could not read as anonymous.)"""
    if credentials is None and "authorization" in request.headers:
        raise AuthenticationRequired(
            "the Authorization header is malformed: send `Authorization: Bearer <access token>`"
        )
    return credentials


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_credentials)]


async def _authenticate(
    request: Request,
    clients: Clients,
    credentials: HTTPAuthorizationCredentials | None,
    load_user: Callable[[uuid.UUID], Awaitable[User | None]],
    session_active: Callable[[str, str], Awaitable[bool]] | None = None,
) -> Principal:
    claims, via_cookie = await _session_claims(request, clients, credentials, session_active)
    user = await load_user(uuid.UUID(claims.user_id))
    if user is None or user.status is not Status.ACTIVE:
        await refuse_inactive(clients, claims)
    request.state.user_id = str(user.id)  # for the access log line of this request
    return Principal(user, claims.session_id, via_cookie)


async def _session_claims(
    request: Request,
    clients: AppClients,
    credentials: HTTPAuthorizationCredentials | None,
    session_active: Callable[[str, str], Awaitable[bool]] | None,
) -> tuple[AccessClaims, bool]:
    """The claims of the request's access token, once its session is known to be live (and, for a
    cookie session's unsafe request, its CSRF token checked); whether it came as a cookie."""
    via_cookie = credentials is None
    token = credentials.credentials if credentials else request.cookies.get(ACCESS_COOKIE)
    if not token:
        raise AuthenticationRequired("sign in first: send `Authorization: Bearer <access token>`")
    claims = clients.tokens.decode_access(token)
    if not await (session_active or clients.sessions.is_active)(claims.session_id, claims.user_id):
        raise AuthenticationRequired("this session has ended; sign in again")
    if via_cookie and request.method not in SAFE_METHODS:
        expected = csrf_token_for(claims.session_id, clients.csrf_secret)
        presented = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(presented, expected) or request.cookies.get(CSRF_COOKIE) != expected:
            raise Forbidden("missing or wrong CSRF token: send the X-CSRF-Token header from the csrf cookie")
    return claims, via_cookie


async def refuse_inactive(clients: AppClients, claims: AccessClaims) -> NoReturn:
    """The account behind ``claims`` is gone or not active: its session ends and the request gets 401."""
    await clients.sessions.revoke(claims.session_id, claims.user_id)
    raise AuthenticationRequired("this account is not active")


async def signed_in_claims(
    request: Request,
    clients: AppClients,
    credentials: HTTPAuthorizationCredentials,
    session_active: Callable[[str, str], Awaitable[bool]] | None = None,
) -> AccessClaims:
    """A Bearer token's claims once its session is known to be live, for a reader whose account is
    read with what it reads (the article list's statement) and then passed to
    ``check_reader_account``."""
    claims, _ = await _session_claims(request, clients, credentials, session_active)
    return claims


async def check_reader_account(
    request: Request, clients: AppClients, claims: AccessClaims, status: str | None, *, on_standby: bool
) -> None:
    """The reader of ``signed_in_claims``, given its account's status as read (None: no such account):
    401, its session ended, unless the account is active. A standby's "not active" is asked again of the
    primary, which decides: the standby may not have replayed the account's creation or reactivation yet.
    (A standby's "active" stands: a suspension or a new role ends the account's sessions, which the
    request was checked against, and records its WAL position, so no standby behind it is read.)"""
    if status != Status.ACTIVE.value and on_standby:
        user = await _detached_user(clients, uuid.UUID(claims.user_id))
        status = user.status.value if user is not None else None
    if status != Status.ACTIVE.value:
        await refuse_inactive(clients, claims)
    request.state.user_id = claims.user_id  # for the access log line of this request


async def _principal(
    request: Request, clients: Clients, db: DbSession, credentials: BearerCredentials
) -> Principal:
    """The signed-in user, loaded into the request's session (routes change and commit it there)."""

    async def load(user_id: uuid.UUID) -> User | None:
        return await db.get(User, user_id)

    return await _authenticate(request, clients, credentials, load)


_USER_BY_ID = "SELECT id, username, role::text AS role, status::text AS status FROM users WHERE id = $1"


async def _detached_user(clients: AppClients, user_id: uuid.UUID) -> User | None:
    """The user, with what read-only routes look at (id, username, role, status), in no session."""
    async with clients.db.driver_connection() as conn:
        row = await conn.fetchrow(_USER_BY_ID, user_id)
    if row is None:
        return None
    return User(id=row["id"], username=row["username"], role=Role(row["role"]), status=Status(row["status"]))


async def _optional_principal(
    request: Request, clients: Clients, credentials: BearerCredentials
) -> Principal | None:
    """The signed-in user when the request carries credentials, None for an anonymous request (one
    without an Authorization header or an access cookie). A request with a malformed header, or a bad or
    expired token, still gets 401, so a client knows its credentials were not taken.

    For routes that only read as the user (lists, pages, health): the user is read in one autocommit
    statement, not in a session of its own (BEGIN, SELECT, ROLLBACK: three round trips on every
    signed-in read), and is not attached to any session."""
    if credentials is None and ACCESS_COOKIE not in request.cookies:
        return None
    return await authenticate_reader(request, clients, credentials)


async def authenticate_reader(
    request: Request,
    clients: AppClients,
    credentials: HTTPAuthorizationCredentials | None,
    session_active: Callable[[str, str], Awaitable[bool]] | None = None,
) -> Principal:
    """The signed-in reader (see ``_optional_principal``); raises as the routes' authentication does.
    ``session_active(session id, user id)`` answers from a session the caller read already."""
    return await _authenticate(
        request, clients, credentials, lambda user_id: _detached_user(clients, user_id), session_active
    )


async def _admin(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.user.role is not Role.ADMIN:
        raise Forbidden("this needs an administrator")
    return principal


CurrentUser = Annotated[Principal, Depends(_principal)]
AdminUser = Annotated[Principal, Depends(_admin)]
OptionalUser = Annotated[Principal | None, Depends(_optional_principal)]
