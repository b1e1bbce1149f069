"""The topology's local SMTP catcher (``mail``): the worker's SMTP transport delivers to it, and each
message lands as an ``.eml`` file in ``<state>/mail``, where developers and tests read it."""

from __future__ import annotations

import smtplib
import sys
from pathlib import Path

from neurmatic.supervisor.services.app import _PythonProcess


class MailCatcher(_PythonProcess):
    name = "mail"
    restartable = True
    stop_grace = 10.0
    ready_timeout = 30.0

    @property
    def port(self) -> int:
        return self.state.ports.mail

    @property
    def directory(self) -> Path:
        """Where the caught messages are (one ``.eml`` file each, private to the service account)."""
        return self.paths.root / "mail"

    def prepare(self) -> None:
        self.directory.mkdir(mode=0o700, exist_ok=True)
        self.state.account.own(self.directory)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "neurmatic",
            "mailcatcher",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
        ]

    def probe(self) -> bool:
        """Ready when it answers an SMTP greeting and a NOOP with 250."""
        with smtplib.SMTP(self.host, self.port, timeout=2) as client:
            code, _ = client.noop()
        return code == 250

    def role(self) -> str:
        return "mail"
