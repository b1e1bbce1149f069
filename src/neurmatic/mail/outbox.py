"""Messages as ``.eml`` files in a directory: the development outbox, and the local SMTP catcher's store.

Each file is written under a temporary name and renamed into place, so a reader listing ``*.eml`` never
sees half a message. Files are private (0600): they hold verification and reset links.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

from neurmatic.mail.base import TemporaryMailFailure
from neurmatic.mail.message import MailMessage


def write_eml(directory: Path, content: bytes) -> Path:
    """Store ``content`` as a new ``<time>-<random>.eml`` in ``directory`` atomically; its path."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
    partial = directory / f".{name}.tmp"
    final = directory / f"{name}.eml"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(final)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return final


class OutboxTransport:
    """Writes each message into ``directory`` instead of sending it (development and demos)."""

    name = "outbox"

    def __init__(self, directory: Path, sender: str, *, reply_to: str | None = None) -> None:
        self.directory = directory
        self.sender = sender
        self.reply_to = reply_to

    def send(self, message: MailMessage) -> None:
        try:
            write_eml(self.directory, message.to_mime(self.sender, self.reply_to).as_bytes())
        except OSError as exc:  # a full or unwritable disk may be fixed before the next attempt
            raise TemporaryMailFailure(f"the outbox could not be written ({type(exc).__name__})") from exc
