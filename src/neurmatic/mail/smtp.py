"""SMTP delivery from an ``SMTP_URL``.

``smtp://host[:25]`` (plain, for a local relay or catcher), ``smtp+starttls://user:pass@host[:587]``
(STARTTLS, then login), ``smtps://user:pass@host[:465]`` (TLS from the first byte). A 4xx reply or a
network error is temporary (the job retries); a 5xx reply is permanent.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from neurmatic.errors import ConfigurationError
from neurmatic.mail.base import MailDeliveryError, PermanentMailFailure, TemporaryMailFailure
from neurmatic.mail.message import MailMessage

TIMEOUT_SECONDS = 30.0
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to connect, parsed from ``SMTP_URL``."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ConfigurationError(
                "SMTP_URL must look like smtp://host:port, smtp+starttls://user:pass@host:587 "
                "or smtps://user:pass@host:465",
                hint="fix SMTP_URL (the scheme and the host are required)",
            )
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError as exc:
            raise ConfigurationError("SMTP_URL has an invalid port", hint="fix SMTP_URL") from exc
        username = unquote(parts.username) if parts.username else None
        if username and parts.scheme == "smtp":
            # A password sent on a plain connection would cross the network readable by anyone on the path.
            raise ConfigurationError(
                "SMTP_URL carries credentials on a plain smtp:// connection",
                hint="use smtp+starttls:// or smtps:// when the server needs a login",
            )
        password = unquote(parts.password) if parts.password else None
        return cls(parts.scheme, parts.hostname, port, username, password)


class SmtpTransport:
    name = "smtp"

    def __init__(
        self, url: str, sender: str, *, reply_to: str | None = None, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self.server = SmtpServer.parse(url)
        self.sender = sender
        self.reply_to = reply_to
        self.timeout = timeout

    def _connect(self) -> smtplib.SMTP:
        server, context = self.server, ssl.create_default_context()
        if server.scheme == "smtps":
            return smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout, context=context)
        client = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        if server.scheme == "smtp+starttls":
            try:
                client.starttls(context=context)
            except BaseException:
                client.close()
                raise
        return client

    def send(self, message: MailMessage) -> None:
        mime = message.to_mime(self.sender, self.reply_to)
        try:
            client = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise _failure(exc) from exc
        try:
            if self.server.username:
                client.login(self.server.username, self.server.password or "")
            client.send_message(mime, from_addr=self.sender, to_addrs=[message.to])
        except (smtplib.SMTPException, OSError) as exc:
            raise _failure(exc) from exc
        finally:
            # The message is accepted once DATA is answered; a failing QUIT must not make it look lost
            # (a retry would deliver it twice).
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()


def _failure(exc: Exception) -> MailDeliveryError:
    """Our error for an smtplib or socket error: 5xx replies are permanent, everything else temporary."""
    code: int | None = None
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code = min(reply[0] for reply in exc.recipients.values()) if exc.recipients else None
    elif isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
    if code is not None and 500 <= code < 600:
        return PermanentMailFailure(f"the SMTP server refused the message ({code})")
    if code is not None:
        return TemporaryMailFailure(f"the SMTP server deferred the message ({code})")
    return TemporaryMailFailure(f"the SMTP server could not be reached ({type(exc).__name__})")
