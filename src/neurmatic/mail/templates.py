"""The account mails: plain text and HTML rendered from ``templates/mail``, links to the frontend.

Links point at ``FRONTEND_URL`` (``/verify-email?token=…``, ``/reset-password?token=…``): the web app
reads the token and calls the API, so the token never sits in an API access log as a GET query.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class AccountMail:
    """One kind of account mail: its templates (``mail/<template>.{txt,html}.j2``), subject and link path."""

    template: str
    subject: str
    heading: str
    path: str

    def render(
        self, settings: Settings, *, to: str, username: str, token: str, valid_for: timedelta
    ) -> MailMessage:
        """The message to ``to``, with a ``{FRONTEND_URL}{path}?token=…`` link valid for ``valid_for``."""
        env = _environment()
        context = {
            "subject": self.subject,
            "heading": self.heading,
            "username": username,
            "link": action_link(settings.app.frontend_url, self.path, token),
            "valid_for": humanise(valid_for),
            "support_email": settings.email.support_email,
        }
        return MailMessage(
            to=to,
            subject=self.subject,
            text=env.get_template(f"mail/{self.template}.txt.j2").render(context),
            html=env.get_template(f"mail/{self.template}.html.j2").render(context),
        )


VERIFICATION_MAIL = AccountMail(
    "verify_email", "Confirm your email for Neurmatic", "Confirm your email", VERIFY_EMAIL_PATH
)
PASSWORD_RESET_MAIL = AccountMail(
    "reset_password", "Reset your Neurmatic password", "Reset your password", RESET_PASSWORD_PATH
)
