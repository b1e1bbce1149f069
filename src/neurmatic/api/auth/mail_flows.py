"""Account mails: make the one-time token, render the mail, queue it for the worker.

A queue outage never fails the request that wanted the mail (the account exists either way, and the user
can ask again); it is logged with the recipient's domain only.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ParamSpec

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.api.state import AppClients
from neurmatic.domain.jobs import QueueUnavailable, submit_mail
from neurmatic.domain.users.models import Status, User
from neurmatic.domain.users.one_time import Purpose, create_token
from neurmatic.mail.message import MailMessage
from neurmatic.mail.templates import PASSWORD_RESET_MAIL, VERIFICATION_MAIL
from neurmatic.settings import Settings

log = logging.getLogger("neurmatic.auth.mail")
P = ParamSpec("P")


async def _submit(clients: AppClients, message: MailMessage, purpose: Purpose) -> None:
    context = {"purpose": purpose.value, "recipient_domain": message.recipient_domain}
    try:
        job_id = await submit_mail(clients.settings.redis, message)
    except QueueUnavailable as exc:
        log.error("account mail not queued", extra={**context, "reason": exc.message})
        return
    log.info("account mail queued", extra={**context, "job_id": job_id})


_MAILS = {Purpose.VERIFY_EMAIL: VERIFICATION_MAIL, Purpose.RESET_PASSWORD: PASSWORD_RESET_MAIL}


def _ttl(settings: Settings, purpose: Purpose) -> timedelta:
    auth = settings.auth
    return auth.email_verification_ttl if purpose is Purpose.VERIFY_EMAIL else auth.password_reset_ttl


async def send_account_mail(clients: AppClients, db: AsyncSession, user: User, purpose: Purpose) -> None:
    """A new token for ``purpose`` (committed) and its mail on the queue."""
    settings = clients.settings
    ttl = _ttl(settings, purpose)
    token = await create_token(db, user, purpose, ttl)
    await db.commit()
    mail = _MAILS[purpose]
    message = mail.render(settings, to=user.email, username=user.username, token=token, valid_for=ttl)
    await _submit(clients, message, purpose)


def _after_response(func: Callable[P, Awaitable[None]]) -> Callable[P, Awaitable[None]]:
    """A task run after the response is sent: its failure is logged, never raised into the server."""

    @functools.wraps(func)
    async def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await func(*args, **kwargs)
        except Exception:
            log.exception("account mail task failed", extra={"task": func.__name__})

    return run


async def _active_user(db: AsyncSession, email: str) -> User | None:
    user = await db.scalar(select(User).where(User.email == email))
    return user if user is not None and user.status is Status.ACTIVE else None


# The two tasks below run after the response: the answer (and how long it takes) is the same whether
# or not the address belongs to an account, so neither the body nor the timing enumerates accounts.


@_after_response
async def resend_verification_for(clients: AppClients, email: str) -> None:
    """Mail a new verification link to an active account that is not verified yet; nothing otherwise."""
    async with clients.db.session() as db:
        user = await _active_user(db, email)
        if user is not None and not user.email_verified:
            await send_account_mail(clients, db, user, Purpose.VERIFY_EMAIL)


@_after_response
async def password_reset_for(clients: AppClients, email: str) -> None:
    """Mail a reset link to an active account; nothing for an unknown or inactive address."""
    async with clients.db.session() as db:
        user = await _active_user(db, email)
        if user is not None:
            await send_account_mail(clients, db, user, Purpose.RESET_PASSWORD)
