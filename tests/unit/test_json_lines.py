"""The access log's direct writer (``neurmatic.logging.JsonLines``): the same line as the JSON formatter
writes, the lines of one turn of the event loop in one write, and ``logging`` itself whenever the
configuration is not the one it can write for."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from neurmatic.logging import JsonLines, configure_logging


class CountingStream(io.StringIO):
    """A stream that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def stream() -> Iterator[CountingStream]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    target = CountingStream()
    configure_logging("api-test", "info", stream=target)
    try:
        yield target
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@contextlib.contextmanager
def alone(stream: CountingStream) -> Iterator[None]:
    """Only configure_logging's handler on the root, as in a server (pytest adds its capture handlers
    to the root while a test runs)."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, logging.StreamHandler) and h.stream is stream]
    saved = root.handlers[:]
    root.handlers[:] = ours
    try:
        yield
    finally:
        root.handlers[:] = saved


def _lines(stream: CountingStream) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_the_one_the_json_formatter_writes(stream: CountingStream) -> None:
    logger = logging.getLogger("neurmatic.test.lines")
    with alone(stream):
        JsonLines(logger).info("request", {"request_id": "abc", "status": 200, "user_id": None})
        logger.info("request", extra={"request_id": "abc", "status": 200, "user_id": None})
    direct, formatted = _lines(stream)
    assert direct.keys() == formatted.keys()
    assert {k: v for k, v in direct.items() if k != "time"} == {
        k: v for k, v in formatted.items() if k != "time"
    }
    assert direct["service"] == "api-test" and direct["logger"] == "neurmatic.test.lines"


def test_the_lines_of_one_loop_turn_go_out_in_one_write(stream: CountingStream) -> None:
    lines = JsonLines(logging.getLogger("neurmatic.test.batch"))

    async def burst() -> int:
        for number in range(20):  # about 2.6 KB: under a pipe's atomic write (see the next test)
            lines.info("request", {"n": number})
        written_before_the_turn_ends = stream.writes
        await asyncio.sleep(0)  # the loop runs the flush
        await asyncio.sleep(0)
        return written_before_the_turn_ends

    with alone(stream):
        assert asyncio.run(burst()) == 0
    assert stream.writes == 1
    assert [line["n"] for line in _lines(stream)] == list(range(20))


def test_other_configurations_go_through_logging(
    stream: CountingStream, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("neurmatic.test.fallback")
    lines = JsonLines(logger)
    with caplog.at_level(logging.INFO, logger="neurmatic.test.fallback"):  # a second handler: logging's
        lines.info("request", {"request_id": "captured"})
    assert stream.writes == 1  # through logging, at once
    assert [getattr(r, "request_id", None) for r in caplog.records] == ["captured"]
    logger.setLevel(logging.WARNING)
    try:
        with alone(stream):
            lines.info("request", {"request_id": "below the level"})
    finally:
        logger.setLevel(logging.NOTSET)
    assert "below the level" not in stream.getvalue()


def test_lines_over_a_pipes_atomic_size_go_out_in_whole_line_chunks(stream: CountingStream) -> None:
    """Workers share a stderr pipe, whose writes are atomic only up to PIPE_BUF bytes."""
    import select

    lines = JsonLines(logging.getLogger("neurmatic.test.chunks"))

    async def burst() -> None:
        for number in range(200):
            lines.info("request", {"n": number, "path": "/api/v1/articles?" + "x" * 150})
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    with alone(stream):
        written: list[str] = []
        original = stream.write

        def recording(text: str) -> int:
            written.append(text)
            return original(text)

        stream.write = recording  # type: ignore[method-assign]
        asyncio.run(burst())
    assert len(written) > 1
    assert all(len(text.encode()) <= select.PIPE_BUF and text.endswith("\n") for text in written)
    assert [line["n"] for line in _lines(stream)] == list(range(200))


def test_lines_kept_by_a_loop_that_stopped_are_written_by_the_next(stream: CountingStream) -> None:
    lines = JsonLines(logging.getLogger("neurmatic.test.loops"))

    async def one(number: int) -> None:
        lines.info("request", {"n": number})

    with alone(stream):
        first = asyncio.new_event_loop()

        def log_and_stop() -> None:
            lines.info("request", {"n": 1})
            first.stop()  # the loop ends with this batch: the flush, due in the next, never runs

        first.call_soon(log_and_stop)
        first.run_forever()
        first.close()
        assert stream.writes == 0
        asyncio.run(one(2))
    assert [line["n"] for line in _lines(stream)] == [1, 2]
