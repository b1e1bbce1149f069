"""The one poll loop (:mod:`neurmatic.polling`), on a fake clock: no test here waits for real."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from neurmatic.errors import ServiceStartError
from neurmatic.polling import Polled, poll
from neurmatic.supervisor.service import Service
from neurmatic.supervisor.state import TopologyState
from tests.support import free_base_port, make_state_parent


class FakeClock:
    """Time that passes only when the code under test sleeps (and, optionally, per probe)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "a poll loop never sleeps for nothing"
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def answers(*replies: object) -> Callable[[], object]:
    """A probe giving ``replies`` in turn (raising the exceptions among them), then the last one forever."""
    stream: Iterator[object] = itertools.chain(replies, itertools.repeat(replies[-1]))

    def probe() -> object:
        reply = next(stream)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    return probe


def test_returns_as_soon_as_the_probe_answers_without_sleeping_further() -> None:
    clock = FakeClock()
    polled = poll(answers(False, False, "ready"), timeout=30, interval=0.5, clock=clock, sleep=clock.sleep)
    assert polled.done and polled.value == "ready" and polled.attempts == 3
    assert clock.sleeps == [0.5, 0.5] and polled.elapsed == pytest.approx(1.0)

    clock = FakeClock()
    assert poll(lambda: True, timeout=30, clock=clock, sleep=clock.sleep).done and clock.sleeps == []


def test_the_interval_grows_by_the_backoff_up_to_its_cap_and_the_last_sleep_ends_at_the_deadline() -> None:
    clock = FakeClock()
    polled = poll(
        lambda: False,
        timeout=1.0,
        interval=0.1,
        backoff=2.0,
        max_interval=0.3,
        clock=clock,
        sleep=clock.sleep,
    )
    assert not polled.done
    assert clock.sleeps == [0.1, 0.2, 0.3, 0.3, 0.1]  # 0.1 + 0.2 + 0.3 + 0.3 = 0.9: 0.1 s left
    assert polled.attempts == 6 and polled.elapsed == pytest.approx(1.0)  # one last probe at the deadline


def test_a_timeout_says_why_with_the_last_error() -> None:
    clock = FakeClock()
    refused = ConnectionRefusedError(111, "Connection refused")
    polled = poll(
        answers(OSError("no route to host"), refused),
        timeout=30,
        interval=1,
        clock=clock,
        sleep=clock.sleep,
    )
    assert not polled.done and polled.last_error is refused
    assert polled.why == "last error: [Errno 111] Connection refused"
    assert polled.elapsed == pytest.approx(30) and polled.attempts == 31


def test_the_last_answer_is_kept_and_an_earlier_error_is_not_forgotten() -> None:
    clock = FakeClock()
    polled = poll(
        answers(TimeoutError("timed out"), "loading", "syncing"),
        timeout=5,
        done=lambda status: status == "up",
        clock=clock,
        sleep=clock.sleep,
    )
    assert not polled.done and polled.value == "syncing"
    assert polled.why == "last answer: syncing; last error: timed out"

    polled = poll(lambda: False, timeout=1, interval=0.5, clock=clock, sleep=clock.sleep)
    assert polled.why == "not ready at any of 3 probes"
    assert Polled(False, None, KeyError(), 1, 0.0).why == "last error: KeyError"  # no message: its type


def test_only_the_caught_exceptions_mean_not_yet() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="a bug"):
        poll(answers(ValueError("a bug")), timeout=5, catch=(OSError,), clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_a_probe_runs_at_least_once_even_with_no_time() -> None:
    clock = FakeClock()
    assert poll(lambda: 7, timeout=0, clock=clock, sleep=clock.sleep).value == 7
    polled = poll(lambda: 0, timeout=0, clock=clock, sleep=clock.sleep)
    assert not polled.done and polled.attempts == 1 and clock.sleeps == []


class _Unready(Service):
    """A server whose process runs but whose probe always refuses."""

    name = "postgres-9"
    port = None

    def command(self) -> list[str]:
        return ["true"]

    def probe(self) -> bool:
        raise ConnectionRefusedError(111, "Connection refused")

    def role(self) -> str:
        return "test"

    def running_pid(self) -> int | None:
        return 1


class _Exited(_Unready):
    def running_pid(self) -> int | None:
        return None


def test_a_server_that_never_gets_ready_is_reported_with_the_probes_last_error(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    state = TopologyState.create(
        make_state_parent(tmp_path_factory, "poll") / "s", base_port=free_base_port()
    )
    with pytest.raises(ServiceStartError) as raised:
        _Unready(state).wait_ready(timeout=0.2)
    assert "postgres-9 was not ready after 0.2s (last error: [Errno 111] Connection refused)" in str(
        raised.value
    )
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)
    with pytest.raises(ServiceStartError, match="postgres-9 exited during start-up"):
        _Exited(state).wait_ready(timeout=5)
