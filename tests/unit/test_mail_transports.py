"""The mail transports against local servers that speak the real protocols (SendGrid's HTTP API, SMTP),
the outbox, and which transport the settings choose."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from neurmatic.errors import ConfigurationError
from neurmatic.mail.base import PermanentMailFailure, TemporaryMailFailure
from neurmatic.mail.message import MailMessage
from neurmatic.mail.outbox import OutboxTransport
from neurmatic.mail.sendgrid import SendGridTransport
from neurmatic.mail.smtp import SmtpServer, SmtpTransport
from neurmatic.mail.transports import transport_for
from neurmatic.settings import Settings
from neurmatic.worker import tasks
from tests.mailbox import Flaky, SmtpCatcher, free_port, messages_to, text_of

MESSAGE = MailMessage(to="ada@example.net", subject="Hello", text="plain body", html="<p>html body</p>")


class SendGridStub(BaseHTTPRequestHandler):
    """Records each request; answers with the status the test queued (202 by default)."""

    requests: list[dict[str, Any]] = []
    statuses: list[int] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append(
            {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
        )
        self.send_response(type(self).statuses.pop(0) if type(self).statuses else 202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def sendgrid() -> Iterator[tuple[str, type[SendGridStub]]]:
    stub = type("Stub", (SendGridStub,), {"requests": [], "statuses": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v3/mail/send", stub
    server.shutdown()
    server.server_close()


def test_sendgrid_posts_the_v3_json_with_the_bearer_key(sendgrid: tuple[str, type[SendGridStub]]) -> None:
    url, stub = sendgrid
    SendGridTransport(url, "SG.test-key", "noreply@neurmatic.com", reply_to="support@neurmatic.com").send(
        MESSAGE
    )
    [request] = stub.requests
    assert request["path"] == "/v3/mail/send"
    assert request["headers"]["Authorization"] == "Bearer SG.test-key"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["json"] == {
        "personalizations": [{"to": [{"email": "ada@example.net"}]}],
        "from": {"email": "noreply@neurmatic.com"},
        "reply_to": {"email": "support@neurmatic.com"},
        "subject": "Hello",
        "content": [
            {"type": "text/plain", "value": "plain body"},
            {"type": "text/html", "value": "<p>html body</p>"},
        ],
    }


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (400, PermanentMailFailure),
        (401, PermanentMailFailure),
        (403, PermanentMailFailure),
        (429, TemporaryMailFailure),
        (500, TemporaryMailFailure),
        (503, TemporaryMailFailure),
    ],
)
def test_sendgrid_4xx_is_final_and_429_or_5xx_is_retried(
    sendgrid: tuple[str, type[SendGridStub]], status: int, failure: type[Exception]
) -> None:
    url, stub = sendgrid
    stub.statuses.append(status)
    with pytest.raises(failure, match=f"HTTP {status}"):
        SendGridTransport(url, "SG.key", "noreply@neurmatic.com").send(MESSAGE)


def test_sendgrid_unreachable_is_retried() -> None:
    transport = SendGridTransport(f"http://127.0.0.1:{free_port()}/v3/mail/send", "SG.key", "a@b.c")
    with pytest.raises(TemporaryMailFailure, match="unreachable"):
        transport.send(MESSAGE)


def test_smtp_delivers_text_and_html_with_the_sender_and_reply_to(tmp_path: Path) -> None:
    with SmtpCatcher(tmp_path) as catcher:
        SmtpTransport(catcher.url, "noreply@neurmatic.com", reply_to="support@neurmatic.com").send(MESSAGE)
    [mail] = messages_to(tmp_path, "ada@example.net")
    assert (mail["From"], mail["Reply-To"], mail["Subject"]) == (
        "noreply@neurmatic.com",
        "support@neurmatic.com",
        "Hello",
    )
    assert text_of(mail).strip() == "plain body"
    html = mail.get_body(preferencelist=("html",))
    assert html is not None and "<p>html body</p>" in str(html.get_content())


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        ("451 4.3.0 Try later", TemporaryMailFailure),
        ("421 4.7.0 Busy", TemporaryMailFailure),
        ("550 5.1.1 No such user", PermanentMailFailure),
        ("554 5.7.1 Rejected", PermanentMailFailure),
    ],
)
def test_smtp_4xx_is_retried_and_5xx_is_final(tmp_path: Path, reply: str, failure: type[Exception]) -> None:
    with (
        SmtpCatcher(tmp_path, Flaky(tmp_path, reply, failures=1)) as catcher,
        pytest.raises(failure, match=reply[:3]),
    ):
        SmtpTransport(catcher.url, "noreply@neurmatic.com").send(MESSAGE)


def test_smtp_unreachable_is_retried() -> None:
    with pytest.raises(TemporaryMailFailure, match="could not be reached"):
        SmtpTransport(f"smtp://127.0.0.1:{free_port()}", "noreply@neurmatic.com").send(MESSAGE)


def test_smtp_urls() -> None:
    assert SmtpServer.parse("smtp://mail.local") == SmtpServer("smtp", "mail.local", 25, None, None)
    assert SmtpServer.parse("smtp+starttls://apikey:p%40ss@smtp.sendgrid.net") == SmtpServer(
        "smtp+starttls", "smtp.sendgrid.net", 587, "apikey", "p@ss"
    )
    assert SmtpServer.parse("smtps://u:p@h:2465").port == 2465
    for bad in ("http://h", "smtp://", "smtp://u:p@h:25", "smtp://h:notaport"):
        with pytest.raises(ConfigurationError):
            SmtpServer.parse(bad)


def test_the_outbox_writes_whole_private_eml_files(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    OutboxTransport(outbox, "noreply@neurmatic.com").send(MESSAGE)
    OutboxTransport(outbox, "noreply@neurmatic.com").send(MESSAGE)
    files = sorted(outbox.iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]  # no temporary file is left behind
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    assert len(messages_to(outbox, "ada@example.net")) == 2


def _settings(**values: str) -> Settings:
    return Settings.from_mapping(values)


def test_the_transport_follows_the_settings(tmp_path: Path) -> None:
    smtp = "smtp://127.0.0.1:2525"
    assert transport_for(_settings(SENDGRID_API_KEY="SG.k", SMTP_URL=smtp)).name == "sendgrid"
    assert transport_for(_settings(SMTP_URL=smtp, MAIL_OUTBOX_DIR=str(tmp_path))).name == "smtp"
    outbox = transport_for(_settings(MAIL_OUTBOX_DIR=str(tmp_path)))
    assert isinstance(outbox, OutboxTransport) and outbox.directory == tmp_path
    assert transport_for(_settings(ENVIRONMENT="development")).name == "outbox"
    with pytest.raises(ConfigurationError, match="no mail transport"):
        transport_for(_settings(ENVIRONMENT="production"))


def test_the_mail_task_logs_the_domain_and_subject_but_never_the_address_or_body(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret_link = "https://app.example/reset-password?token=very-secret-token"
    message = MailMessage(to="grace@example.com", subject="Reset", text=secret_link)
    tasks.use_transport(OutboxTransport(tmp_path, "noreply@neurmatic.com"))
    try:
        with caplog.at_level(logging.DEBUG):
            result = tasks.send_email(message.as_payload())
    finally:
        tasks.use_transport(None)
    assert result == {"transport": "outbox", "recipientDomain": "example.com"}
    [record] = [r for r in caplog.records if r.getMessage() == "mail sent"]
    assert (record.__dict__["recipient_domain"], record.__dict__["subject"]) == ("example.com", "Reset")
    assert "grace@" not in caplog.text and "very-secret-token" not in caplog.text
