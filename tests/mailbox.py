"""Reading what the platform mailed: ``.eml`` files in a catcher's directory, and the links in them."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import time
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from neurmatic.mail.catcher import StoreMessages

MAIL_TIMEOUT_SECONDS = 30.0


def messages_to(directory: Path, recipient: str) -> list[EmailMessage]:
    """Every message in ``directory`` addressed to ``recipient``, oldest first."""
    found = []
    for path in sorted(directory.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"] == recipient:
            found.append(message)
    return found


def wait_for_mail(
    directory: Path, recipient: str, *, count: int = 1, timeout: float = MAIL_TIMEOUT_SECONDS
) -> list[EmailMessage]:
    """Wait until ``count`` messages to ``recipient`` have arrived; all of them, oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        found = messages_to(directory, recipient)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} mail(s) to {recipient} expected in {directory}, {len(found)} came")
        time.sleep(0.1)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the mail has no plain-text part"
    return str(part.get_content())


def token_in(message: EmailMessage, path: str) -> str:
    """The token of the ``{FRONTEND_URL}{path}?token=…`` link in both the text and the HTML part."""
    pattern = re.escape(path) + r"\?token=([A-Za-z0-9_-]+)"
    text_token = re.search(pattern, text_of(message))
    html = message.get_body(preferencelist=("html",))
    html_token = re.search(pattern, str(html.get_content())) if html is not None else None
    assert text_token and html_token, f"no {path} link in the mail"
    assert text_token.group(1) == html_token.group(1)
    return text_token.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpCatcher:
    """An aiosmtpd server on a free loopback port storing what it accepts in ``directory``."""

    def __init__(self, directory: Path, handler: StoreMessages | None = None) -> None:
        self.directory = directory
        self.port = free_port()
        self.handler = handler or StoreMessages(directory)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpCatcher:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()


class Flaky(StoreMessages):
    """Answers DATA with ``reply`` for the first ``failures`` attempts, then stores the message."""

    def __init__(self, directory: Path, reply: str, failures: int) -> None:
        super().__init__(directory)
        self.reply = reply
        self.failures = failures
        self.attempts = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        if self.attempts <= self.failures:
            return self.reply
        return await super().handle_DATA(server, session, envelope)
