"""/api/v1/auth: register, login, refresh, logout, logout-all."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from neurmatic.api.auth.mail_flows import send_account_mail
from neurmatic.api.auth.presenters import login_body, user_out
from neurmatic.api.auth.schemas import LoginRequest, LoginResponse, RefreshRequest, RegisterRequest, TokenPair
from neurmatic.api.auth.service import AuthService
from neurmatic.api.deps import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    ClientIp,
    Clients,
    CurrentUser,
    DbSession,
    csrf_token_for,
)
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses
from neurmatic.domain.users.one_time import Purpose

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/register", status_code=201, summary="Create an account", responses=error_responses(409, 422, 429)
)
async def register(body: RegisterRequest, clients: Clients, db: DbSession, ip: ClientIp) -> JSONResponse:
    user = await AuthService(clients, db).register(body, ip)
    await db.commit()
    await send_account_mail(clients, db, user, Purpose.VERIFY_EMAIL)  # a queue outage is only logged
    return success(user_out(user).model_dump(by_alias=True), status_code=201)


@router.post(
    "/login",
    summary="Sign in with email and password (and a TOTP code when 2FA is on)",
    response_model=LoginResponse,
    responses=error_responses(401, 422, 429),
)
async def login(
    body: LoginRequest, request: Request, clients: Clients, db: DbSession, ip: ClientIp
) -> JSONResponse:
    issued = await AuthService(clients, db).login(body, ip, request.headers.get("user-agent", ""))
    await db.commit()
    response = success(login_body(issued.user, issued.tokens))
    if body.use_cookies:
        set_session_cookies(response, clients, issued.session_id, issued.tokens.access_token)
    return response


def set_session_cookies(response: Response, clients: Clients, session_id: str, access_token: str) -> None:
    """Browser pages (the admin pages) authenticate with an httpOnly cookie; unsafe requests made with
    it must echo the CSRF cookie in X-CSRF-Token (double submit, bound to the session)."""
    ttl = clients.tokens.access_ttl
    response.set_cookie(
        ACCESS_COOKIE, access_token, max_age=ttl, httponly=True, secure=True, samesite="strict", path="/"
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token_for(session_id, clients.csrf_secret),
        max_age=ttl,
        httponly=False,
        secure=True,
        samesite="strict",
        path="/",
    )


@router.post(
    "/refresh",
    summary="Exchange a refresh token for a new pair (the old one is spent)",
    response_model=TokenPair,
    responses=error_responses(401, 422),
)
async def refresh(body: RefreshRequest, clients: Clients, db: DbSession) -> JSONResponse:
    pair = await AuthService(clients, db).refresh(body.refresh_token)
    return success(pair.model_dump(by_alias=True))


@router.post("/logout", summary="End this session", responses=error_responses(401, 403))
async def logout(principal: CurrentUser, clients: Clients) -> JSONResponse:
    await clients.sessions.revoke(principal.session_id, str(principal.user.id))
    response = success({"loggedOut": True})
    response.delete_cookie(ACCESS_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/logout-all", summary="End every session of this account", responses=error_responses(401, 403))
async def logout_all(principal: CurrentUser, clients: Clients) -> JSONResponse:
    ended = await clients.sessions.revoke_all(str(principal.user.id))
    return success({"sessionsEnded": ended})
