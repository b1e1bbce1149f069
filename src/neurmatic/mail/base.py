"""How a message leaves: the transport interface and its two failure kinds.

A transport raises :class:`TemporaryMailFailure` when trying again later may work (a 5xx or 429 from
SendGrid, an SMTP 4xx, a network error): the job queue retries it. It raises
:class:`PermanentMailFailure` when the provider refused the message for good (a 4xx from SendGrid, an
SMTP 5xx): retrying would be refused the same way, so the job fails at once and stays in the failed
jobs for an operator. Messages of both carry status codes only, never addresses or content.
"""

from __future__ import annotations

from typing import Protocol

from neurmatic.errors import NeurmaticError
from neurmatic.mail.message import MailMessage


class MailDeliveryError(NeurmaticError):
    """A message could not be handed to the mail provider."""


class TemporaryMailFailure(MailDeliveryError):
    """The provider or the network failed in a way that may pass: retry later."""


class PermanentMailFailure(MailDeliveryError):
    """The provider refused the message for good: do not retry."""


class Transport(Protocol):
    """Hands one message to a mail provider (or a local catcher or outbox)."""

    name: str

    def send(self, message: MailMessage) -> None:
        """Deliver ``message``; raise a :class:`MailDeliveryError` when it was not accepted."""
