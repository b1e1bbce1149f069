"""One outgoing mail, as the API renders it and the worker delivers it.

The job queue carries it as a plain dict (``as_payload``), so a job stays readable by any worker version
and by the queue dashboard without importing this class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    text: str
    html: str | None = None

    @property
    def recipient_domain(self) -> str:
        """What logs may say about the recipient: the domain, never the whole address."""
        return self.to.rpartition("@")[2].lower() or "unknown"

    def as_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> MailMessage:
        """The message a job carries; a payload without a recipient, subject or text is refused."""
        missing = [name for name in ("to", "subject", "text") if not payload.get(name)]
        if missing:
            raise ValueError(f"mail payload lacks {', '.join(missing)}")
        return cls(
            to=str(payload["to"]),
            subject=str(payload["subject"]),
            text=str(payload["text"]),
            html=str(payload["html"]) if payload.get("html") else None,
        )

    def to_mime(self, sender: str, reply_to: str | None = None) -> EmailMessage:
        """The RFC 5322 message (plain text, plus an HTML alternative when there is one)."""
        mime = EmailMessage()
        mime["From"] = sender
        mime["To"] = self.to
        mime["Subject"] = self.subject
        mime["Date"] = formatdate(localtime=False, usegmt=True)
        mime["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        if reply_to:
            mime["Reply-To"] = reply_to
        mime.set_content(self.text)
        if self.html:
            mime.add_alternative(self.html, subtype="html")
        return mime
