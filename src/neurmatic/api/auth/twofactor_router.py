"""/api/v1/auth/2fa: set up, confirm and turn off TOTP two-factor authentication."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from neurmatic.api.auth.challenge import challenge_user, close_challenge
from neurmatic.api.auth.presenters import login_body
from neurmatic.api.auth.schemas import Body, LoginResponse
from neurmatic.api.auth.service import AuthService, limit_two_factor
from neurmatic.api.deps import ClientIp, Clients, CurrentUser, DbSession
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses
from neurmatic.domain.users import twofactor
from neurmatic.domain.users.accounts import user_by_id
from neurmatic.domain.users.models import Status
from neurmatic.errors import AuthenticationRequired, Conflict

router = APIRouter(prefix="/auth/2fa", tags=["two-factor"])


class CodeRequest(Body):
    code: str = Field(min_length=6, max_length=20, description="A TOTP code (or, to disable, a backup code)")


@router.post(
    "/setup",
    summary="Start 2FA: a new secret, its otpauth:// URI and ten backup codes",
    responses=error_responses(401, 409),
)
async def setup(principal: CurrentUser, clients: Clients, db: DbSession) -> JSONResponse:
    user = await db.merge(principal.user)
    if user.totp_enabled:
        raise Conflict("two-factor authentication is already on; disable it first to start over")
    secret = twofactor.new_secret()
    user.totp_secret_encrypted = twofactor.encrypt_secret(secret, clients.csrf_secret)
    codes = await twofactor.replace_backup_codes(db, user)
    await db.commit()
    return success(
        {"secret": secret, "otpauthUri": twofactor.provisioning_uri(secret, user.email), "backupCodes": codes}
    )


async def _require_code(principal: CurrentUser, clients: Clients, db: DbSession, code: str) -> None:
    await limit_two_factor(clients, str(principal.user.id))
    user = await db.merge(principal.user)
    if not await twofactor.check_second_factor(db, clients.redis, user, code, clients.csrf_secret):
        raise AuthenticationRequired("the two-factor code is wrong")


@router.post(
    "/verify",
    summary="Confirm the setup with a code from the app: 2FA is on from now",
    responses=error_responses(401, 409, 429),
)
async def verify(body: CodeRequest, principal: CurrentUser, clients: Clients, db: DbSession) -> JSONResponse:
    user = await db.merge(principal.user)
    if user.totp_secret_encrypted is None:
        raise Conflict("start with POST /auth/2fa/setup")
    await _require_code(principal, clients, db, body.code)
    user.totp_enabled = True
    await db.commit()
    return success({"twoFactorEnabled": True})


@router.post(
    "/disable",
    summary="Turn 2FA off (needs a current code or a backup code)",
    responses=error_responses(401, 409, 429),
)
async def disable(body: CodeRequest, principal: CurrentUser, clients: Clients, db: DbSession) -> JSONResponse:
    user = await db.merge(principal.user)
    if not user.totp_enabled:
        raise Conflict("two-factor authentication is not on")
    await _require_code(principal, clients, db, body.code)
    user.totp_enabled = False
    user.totp_secret_encrypted = None
    await twofactor.replace_backup_codes(db, user)
    await db.commit()
    return success({"twoFactorEnabled": False})


class ChallengeRequest(Body):
    challenge: str = Field(min_length=10, max_length=100, description="From the sign-in that asked for 2FA")
    code: str = Field(min_length=6, max_length=20, description="A TOTP code or a backup code")


@router.post(
    "/challenge",
    summary="Finish a sign-in that asked for the second factor (e.g. after OAuth)",
    response_model=LoginResponse,
    responses=error_responses(401, 422, 429),
)
async def answer_challenge(
    body: ChallengeRequest, request: Request, clients: Clients, db: DbSession, ip: ClientIp
) -> JSONResponse:
    user_id = await challenge_user(clients.redis, body.challenge)
    if user_id is None:
        raise AuthenticationRequired("this sign-in has expired; start again")
    await limit_two_factor(clients, user_id)
    user = await user_by_id(db, uuid.UUID(user_id))
    if user is None or user.status is not Status.ACTIVE:
        raise AuthenticationRequired("this account is not active")
    if not await twofactor.check_second_factor(db, clients.redis, user, body.code, clients.csrf_secret):
        raise AuthenticationRequired("the two-factor code is wrong", details={"twoFactorRequired": True})
    if not await close_challenge(clients.redis, body.challenge):
        raise AuthenticationRequired("this sign-in was already completed")
    issued = await AuthService(clients, db).issue(
        user, ip=ip, user_agent=request.headers.get("user-agent", "")
    )
    await db.commit()
    return success(login_body(user, issued.tokens))
