"""/api/v1/auth: email verification and password reset.

``resend-verification`` and ``forgot-password`` answer the same body, in the same time, for every
address (the work happens after the response), so they cannot tell anyone which emails have accounts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import APIRouter, BackgroundTasks
from fastapi.responses import JSONResponse
from pydantic import Field

from neurmatic.api.auth.mail_flows import password_reset_for, resend_verification_for
from neurmatic.api.auth.presenters import user_out
from neurmatic.api.auth.schemas import Body, Email
from neurmatic.api.deps import ClientIp, Clients, DbSession
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses
from neurmatic.api.security.rate_limit import Limit
from neurmatic.api.state import AppClients
from neurmatic.domain.users import passwords
from neurmatic.domain.users.models import User
from neurmatic.domain.users.one_time import Purpose, consume_token
from neurmatic.errors import ValidationFailed

router = APIRouter(prefix="/auth", tags=["auth"])

TOKEN_FIELD = Field(min_length=1, max_length=200, description="The token from the link in the mail")
RESEND_ANSWER = "If this address has an account that is not verified yet, a new link is on its way."
FORGOT_ANSWER = "If this address has an account, a link to reset the password is on its way."


class VerifyEmailRequest(Body):
    token: str = TOKEN_FIELD


class EmailRequest(Body):
    email: Email


class ResetPasswordRequest(Body):
    token: str = TOKEN_FIELD
    new_password: str = Field(min_length=1, max_length=200)


def _invalid_link() -> ValidationFailed:
    return ValidationFailed(
        "this link is invalid, already used or expired; ask for a new one",
        details=[{"field": "token", "message": "invalid, used or expired"}],
    )


async def _limit_mail_requests(clients: Clients, rule: str, ip: str, email: str) -> None:
    """RATE_LIMIT_FORGOT_PASSWORD per client address and per target address: nobody can flood an inbox,
    and an unknown address is counted like a known one (a 429 reveals nothing)."""
    limit = Limit.parse(clients.settings.rate_limit.forgot_password)
    message = "too many mail requests; try again later"
    await clients.limiter.enforce(f"{rule}:ip", ip, limit, message)
    await clients.limiter.enforce(f"{rule}:email", email, limit, message)


def _answer_then_mail(
    background: BackgroundTasks,
    task: Callable[[AppClients, str], Awaitable[None]],
    clients: AppClients,
    email: str,
    answer: str,
) -> JSONResponse:
    """Answer ``answer`` now; look the address up and mail it afterwards (same body, same timing)."""
    background.add_task(task, clients, email)
    return success({"message": answer})


@router.post(
    "/verify-email",
    summary="Confirm the email address with the token from the verification mail",
    responses=error_responses(422),
)
async def verify_email(body: VerifyEmailRequest, db: DbSession) -> JSONResponse:
    user = await consume_token(db, body.token, Purpose.VERIFY_EMAIL)
    if user is None:
        raise _invalid_link()
    if user.email_verified_at is None:
        user.email_verified_at = datetime.now(UTC)
    await db.commit()
    return success(user_out(user).model_dump(by_alias=True))


@router.post(
    "/resend-verification",
    summary="Mail a new verification link (same answer for every address)",
    responses=error_responses(422, 429),
)
async def resend_verification(
    body: EmailRequest, clients: Clients, ip: ClientIp, background: BackgroundTasks
) -> JSONResponse:
    await _limit_mail_requests(clients, "resend-verification", ip, body.email)
    return _answer_then_mail(background, resend_verification_for, clients, body.email, RESEND_ANSWER)


@router.post(
    "/forgot-password",
    summary="Mail a password reset link (same answer for every address)",
    responses=error_responses(422, 429),
)
async def forgot_password(
    body: EmailRequest, clients: Clients, ip: ClientIp, background: BackgroundTasks
) -> JSONResponse:
    await _limit_mail_requests(clients, "forgot-password", ip, body.email)
    return _answer_then_mail(background, password_reset_for, clients, body.email, FORGOT_ANSWER)


@router.post(
    "/reset-password",
    summary="Set a new password with the token from the reset mail; ends every session",
    responses=error_responses(422),
)
async def reset_password(body: ResetPasswordRequest, clients: Clients, db: DbSession) -> JSONResponse:
    user = await consume_token(db, body.token, Purpose.RESET_PASSWORD)
    if user is None:
        raise _invalid_link()
    _require_strong(body.new_password, user)  # raising rolls back: the token stays usable
    user.password_hash = await passwords.hash_password(body.new_password, clients.settings.auth.bcrypt_rounds)
    if user.email_verified_at is None:
        user.email_verified_at = datetime.now(UTC)  # the reset link reached this address: it is theirs
    user_id = str(user.id)
    # Sessions end before the commit (a Redis outage fails the request with the old password intact)
    # and again after it (a sign-in with the old password in between must not survive either).
    ended = await clients.sessions.revoke_all(user_id)
    await db.commit()
    ended += await clients.sessions.revoke_all(user_id)
    await clients.limiter.reset("login:failures", user.email)
    return success({"passwordReset": True, "sessionsEnded": ended})


def _require_strong(password: str, user: User) -> None:
    problems = passwords.password_problems(password, email=user.email, username=user.username)
    if problems:
        raise ValidationFailed(
            "the password is too weak: " + "; ".join(problems),
            details=[{"field": "newPassword", "message": problem} for problem in problems],
        )
