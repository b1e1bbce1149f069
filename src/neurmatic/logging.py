"""Structured logging shared by the API, the worker, the ops commands and the supervisor.

One JSON object per line on stderr (or a file), with the fields a log pipeline needs: time, level,
logger, message, and whatever context the caller binds (request id, user id, route, status, duration).
Humans at a terminal get the same fields as ``key=value`` when ``json_output`` is false.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

_NO_LOCK = contextlib.nullcontext()
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


class JsonLines:
    """Writes a record of one logger as the root's ``JsonFormatter`` would, without building a
    ``LogRecord``: for the access log, a line per request, which through ``logging`` cost a fifth of a
    cached read's CPU. Only while the configuration is the one ``configure_logging`` installs (one
    stream handler, JSON, no filters, the level enabled); otherwise (a test's capture handler, key=value
    output, a filter) the record goes through ``logging`` as usual."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._checked: tuple[list[logging.Handler], int, logging.Handler] | None = None
        self._direct: tuple[logging.StreamHandler[TextIO], JsonFormatter] | None = None
        self._pending: list[bytes] = []
        self._flush_on: asyncio.AbstractEventLoop | None = None  # the loop that will write the pending

    def info(self, message: str, fields: dict[str, Any]) -> None:
        direct = self._plan()
        if direct is None:
            self.logger.info(message, extra=fields)
            return
        handler, formatter = direct
        now = datetime.now(UTC)
        entry = {
            "time": now.isoformat(timespec="milliseconds"),
            "level": "info",
            "service": formatter.service,
            "logger": self.logger.name,
            "message": message,
            **fields,
        }
        line = orjson.dumps(entry, default=str, option=orjson.OPT_APPEND_NEWLINE)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop here: written at once
            self._write(handler, line)
            return
        # The lines of one turn of the event loop go out in one write, at its end (a write per line was
        # a tenth of a cached read's CPU); a lone request's line is written as soon as it is answered.
        if self._flush_on is not loop:
            if self._pending:  # kept by a loop that stopped before its turn ended: written now
                self._flush(handler)
            loop.call_soon(self._flush, handler)
            self._flush_on = loop
        self._pending.append(line)

    def _flush(self, handler: logging.StreamHandler[TextIO]) -> None:
        lines, self._pending, self._flush_on = self._pending, [], None
        # Several workers share one stderr pipe: a write to a pipe is atomic (never interleaved with
        # another process's) only up to PIPE_BUF bytes. So the turn's lines go out in chunks of whole
        # lines up to that size (a line longer than that alone, as logging would write it).
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > select.PIPE_BUF:
                self._write(handler, b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write(handler, b"".join(chunk))

    @staticmethod
    def _write(handler: logging.StreamHandler[TextIO], lines: bytes) -> None:
        with handler.lock or _NO_LOCK:
            handler.stream.write(lines.decode())
            handler.stream.flush()

    def _plan(self) -> tuple[logging.StreamHandler[TextIO], JsonFormatter] | None:
        root = logging.root
        handlers = root.handlers
        handler = handlers[0] if len(handlers) == 1 else None
        # Cheap to ask on every line: the same handler list, of the same length, with the same handler.
        key = (handlers, len(handlers), handler) if handler is not None else None
        if key != self._checked:
            self._checked, self._direct = key, self._direct_handler(handler)
        if self._direct is None or not self.logger.isEnabledFor(logging.INFO):
            return None
        return self._direct

    def _direct_handler(
        self, handler: logging.Handler | None
    ) -> tuple[logging.StreamHandler[TextIO], JsonFormatter] | None:
        if type(handler) is not logging.StreamHandler or not isinstance(handler.formatter, JsonFormatter):
            return None
        node: logging.Logger | None = self.logger
        while node is not None and node is not logging.root:  # nothing between the logger and the root
            if node.handlers or node.filters or not node.propagate:
                return None
            node = node.parent
        if logging.root.filters or handler.filters:
            return None
        return handler, handler.formatter


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
