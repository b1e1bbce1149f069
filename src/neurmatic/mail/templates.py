"""The account mails: plain text and HTML rendered from ``templates/mail``, links to the frontend.

Links point at ``FRONTEND_URL`` (``/verify-email?token=…``, ``/reset-password?token=…``): the web app
reads the token and calls the API, so the token never sits in an API access log as a GET query.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from neurmatic.mail.message import MailMessage
from neurmatic.settings import Settings

VERIFY_EMAIL_PATH = "/verify-email"
RESET_PASSWORD_PATH = "/reset-password"  # noqa: S105 - a URL path, not a secret


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("neurmatic", "templates"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        keep_trailing_newline=True,
    )


def action_link(frontend_url: str, path: str, token: str) -> str:
    """``{FRONTEND_URL}{path}?token=…``, the token URL-encoded."""
    return f"{frontend_url.rstrip('/')}{path}?{urlencode({'token': token})}"


def humanise(duration: timedelta) -> str:
    """``24 hours``, ``1 hour``, ``30 minutes``: how long a link stays valid, in a mail's words."""
    minutes = int(duration.total_seconds() // 60)
    if minutes % (24 * 60) == 0 and minutes >= 48 * 60:
        amount, unit = minutes // (24 * 60), "day"
    elif minutes % 60 == 0 and minutes >= 60:
        amount, unit = minutes // 60, "hour"
    else:
        amount, unit = max(1, minutes), "minute"
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


def _render(template: str, *, to: str, subject: str, heading: str, **context: object) -> MailMessage:
    env = _environment()
    values = {"subject": subject, "heading": heading, **context}
    return MailMessage(
        to=to,
        subject=subject,
        text=env.get_template(f"mail/{template}.txt.j2").render(values),
        html=env.get_template(f"mail/{template}.html.j2").render(values),
    )


def verification_mail(settings: Settings, *, to: str, username: str, token: str) -> MailMessage:
    """The "confirm your email" mail, with a link valid for ``EMAIL_VERIFICATION_TTL``."""
    return _render(
        "verify_email",
        to=to,
        subject="Confirm your email for Neurmatic",
        heading="Confirm your email",
        username=username,
        link=action_link(settings.app.frontend_url, VERIFY_EMAIL_PATH, token),
        valid_for=humanise(settings.auth.email_verification_ttl),
        support_email=settings.email.support_email,
    )


def password_reset_mail(settings: Settings, *, to: str, username: str, token: str) -> MailMessage:
    """The "choose a new password" mail, with a single-use link valid for ``PASSWORD_RESET_TTL``."""
    return _render(
        "reset_password",
        to=to,
        subject="Reset your Neurmatic password",
        heading="Reset your password",
        username=username,
        link=action_link(settings.app.frontend_url, RESET_PASSWORD_PATH, token),
        valid_for=humanise(settings.auth.password_reset_ttl),
        support_email=settings.email.support_email,
    )
