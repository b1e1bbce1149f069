"""SendGrid's HTTP API v3 (``POST /v3/mail/send``).

2xx: accepted. 429 and 5xx: SendGrid is throttling or failing, so the job retries. Any other 4xx: the
request itself is wrong (bad key, unverified sender, malformed address) and would be refused again,
so the job fails without retrying. A network error retries.
"""

from __future__ import annotations

from typing import Any

import httpx

from neurmatic.mail.base import PermanentMailFailure, TemporaryMailFailure
from neurmatic.mail.message import MailMessage

TIMEOUT_SECONDS = 15.0


class SendGridTransport:
    name = "sendgrid"

    def __init__(
        self,
        api_url: str,
        api_key: str,
        sender: str,
        *,
        reply_to: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.api_url = api_url
        self.api_key = api_key
        self.sender = sender
        self.reply_to = reply_to
        self.timeout = timeout

    def request_body(self, message: MailMessage) -> dict[str, Any]:
        """The v3 JSON: one personalization, the sender, the subject, text first and HTML second."""
        content = [{"type": "text/plain", "value": message.text}]
        if message.html:
            content.append({"type": "text/html", "value": message.html})
        body: dict[str, Any] = {
            "personalizations": [{"to": [{"email": message.to}]}],
            "from": {"email": self.sender},
            "subject": message.subject,
            "content": content,
        }
        if self.reply_to:
            body["reply_to"] = {"email": self.reply_to}
        return body

    def send(self, message: MailMessage) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            response = httpx.post(
                self.api_url, json=self.request_body(message), headers=headers, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise TemporaryMailFailure(f"SendGrid unreachable ({type(exc).__name__})") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        if 400 <= status < 500 and status != 429:
            raise PermanentMailFailure(f"SendGrid refused the message (HTTP {status})")
        raise TemporaryMailFailure(f"SendGrid failed (HTTP {status})")
