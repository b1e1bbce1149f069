"""The transport the worker uses, chosen by settings."""

from __future__ import annotations

from pathlib import Path

from neurmatic.errors import ConfigurationError
from neurmatic.mail.base import Transport
from neurmatic.mail.outbox import OutboxTransport
from neurmatic.mail.sendgrid import SendGridTransport
from neurmatic.mail.smtp import SmtpTransport
from neurmatic.settings import Settings

DEVELOPMENT_OUTBOX = Path("mail-outbox")


def transport_for(settings: Settings) -> Transport:
    """SendGrid when ``SENDGRID_API_KEY`` is set, else ``SMTP_URL``, else ``MAIL_OUTBOX_DIR``.

    Development without any of them writes to ``./mail-outbox``; production without any refuses to
    start, because accounts whose mail silently goes nowhere can neither verify nor reset anything.
    """
    email = settings.email
    sender, reply_to = email.from_email, email.support_email
    if email.sendgrid_api_key is not None:
        key = email.sendgrid_api_key.get_secret_value()
        return SendGridTransport(email.sendgrid_api_url, key, sender, reply_to=reply_to)
    if email.smtp_url:
        return SmtpTransport(email.smtp_url, sender, reply_to=reply_to)
    if email.outbox_dir is not None:
        return OutboxTransport(email.outbox_dir, sender, reply_to=reply_to)
    if settings.is_development:
        return OutboxTransport(DEVELOPMENT_OUTBOX.absolute(), sender, reply_to=reply_to)
    raise ConfigurationError(
        f"no mail transport is configured for {settings.app.environment.value}",
        hint="set SENDGRID_API_KEY (or SMTP_URL, or MAIL_OUTBOX_DIR) in the worker's environment",
    )
