"""A local SMTP catcher: accepts every message and stores it as an ``.eml`` file (the topology's ``mail``).

Development and the tests read what the platform "sent" from that directory. It speaks real SMTP
(aiosmtpd), so the worker's SMTP transport is exercised exactly as against a production relay.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from neurmatic.mail.outbox import write_eml

log = logging.getLogger("neurmatic.mailcatcher")


class StoreMessages:
    """aiosmtpd handler: each message DATA ends with becomes one file in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        await asyncio.to_thread(write_eml, self.directory, content)
        domains = sorted({rcpt.rpartition("@")[2].lower() for rcpt in envelope.rcpt_tos})
        log.info("message stored", extra={"recipient_domains": domains, "bytes": len(content)})
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, directory: Path) -> None:
    """Serve SMTP on ``host:port`` until SIGTERM or SIGINT."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    loop = asyncio.get_running_loop()
    handler = StoreMessages(directory)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="neurmatic-mailcatcher", ident="Neurmatic mail catcher"), host, port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("mail catcher listening", extra={"host": host, "port": port, "dir": str(directory)})
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
    log.info("mail catcher stopped")
