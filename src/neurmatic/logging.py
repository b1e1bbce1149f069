"""Structured logging shared by the API, the worker, the ops commands and the supervisor.

One JSON object per line on stderr (or a file), with the fields a log pipeline needs: time, level,
logger, message, and whatever context the caller binds (request id, user id, route, status, duration).
Humans at a terminal get the same fields as ``key=value`` when ``json_output`` is false.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line, with every ``extra=`` field at the top level."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class KeyValueFormatter(logging.Formatter):
    """``HH:MM:SS level message key=value ...`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _RESERVED)
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname.lower():7} {record.getMessage()}"
        return f"{line} {extras}" if extras else line


def configure_logging(
    service: str, level: str = "info", *, json_output: bool = True, stream: TextIO | None = None
) -> None:
    """Install one handler on the root logger; safe to call again (it replaces the handler)."""
    # Nothing we print needs the caller's file, line, thread or process: skip looking them up for each
    # record (the logging HOWTO's "Optimization"; a tenth of a cached read's CPU was the access log).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service) if json_output else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_level(level))


def _level(name: str) -> int:
    # The operators write LOG_LEVEL=warn (the Node.js spelling); Python calls it WARNING.
    aliases = {"warn": "WARNING", "fatal": "CRITICAL", "trace": "DEBUG"}
    resolved = logging.getLevelName(aliases.get(name.lower(), name.upper()))
    return resolved if isinstance(resolved, int) else logging.INFO
