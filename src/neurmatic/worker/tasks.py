"""The functions jobs run. RQ imports them by name (``neurmatic.worker.tasks.send_email``).

The worker installs its mail transport once at start (:func:`use_transport`), chosen by settings; jobs
carry only the message. Logs name the recipient's domain and the subject, never the address or the body
(which holds one-time links).
"""

from __future__ import annotations

import logging
from typing import Any

from rq import get_current_job

from neurmatic.errors import ConfigurationError
from neurmatic.mail.base import PermanentMailFailure, TemporaryMailFailure, Transport
from neurmatic.mail.message import MailMessage

log = logging.getLogger("neurmatic.worker.mail")
_transport: Transport | None = None


def use_transport(transport: Transport | None) -> None:
    """Set the transport :func:`send_email` delivers with (the worker calls this at start)."""
    global _transport
    _transport = transport


def _no_more_retries() -> None:
    """Make the running job fail for good: RQ retries a raising job while it has retries left."""
    job = get_current_job()
    if job is not None:
        job.retries_left = 0


def send_email(payload: dict[str, Any]) -> dict[str, str]:
    """Deliver one message. Temporary failures raise (RQ retries); permanent ones fail at once."""
    try:
        message = MailMessage.from_payload(payload)
    except ValueError:
        _no_more_retries()
        raise
    if _transport is None:
        raise ConfigurationError("this worker has no mail transport", hint="start it with `neurmatic worker`")
    context = {
        "recipient_domain": message.recipient_domain,
        "subject": message.subject,
        "transport": _transport.name,
    }
    try:
        _transport.send(message)
    except PermanentMailFailure as exc:
        _no_more_retries()
        log.error("mail refused; not retrying", extra={**context, "reason": exc.message})
        raise
    except TemporaryMailFailure as exc:
        log.warning("mail deferred; will retry", extra={**context, "reason": exc.message})
        raise
    log.info("mail sent", extra=context)
    return {"transport": _transport.name, "recipientDomain": message.recipient_domain}
