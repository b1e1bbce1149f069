"""/api/v1/auth/2fa: set up, confirm and turn off TOTP two-factor authentication."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from neurmatic.api.auth import twofactor
from neurmatic.api.auth.schemas import Body
from neurmatic.api.deps import Clients, CurrentUser, DbSession
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses
from neurmatic.api.security.rate_limit import Limit
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
    await clients.limiter.enforce(
        "2fa:user",
        str(principal.user.id),
        Limit.parse(clients.settings.rate_limit.two_factor),
        "too many two-factor attempts; wait before trying again",
    )
    user = await db.merge(principal.user)
    if not await twofactor.check_second_factor(db, user, code, clients.csrf_secret):
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
