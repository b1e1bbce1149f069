"""The mail job on the real queue (RQ on the topology's Redis, through Sentinel): a deferred delivery is
retried until the SMTP server takes it; a refused one fails at once and is kept for an operator.

The jobs run in-process (``InlineWorker``, burst mode) on a queue of their own, so the topology's worker
never sees them and the test decides the SMTP server and the retry interval."""

from __future__ import annotations

import logging
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from rq import Retry
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from neurmatic.domain.jobs import ALL_QUEUES, JOB_OUTCOMES_KEY, enqueue_mail, mail_retry
from neurmatic.mail.message import MailMessage
from neurmatic.mail.smtp import SmtpTransport
from neurmatic.worker import tasks
from neurmatic.worker.main import InlineWorker, queue_connection
from tests.api.conftest import api_client
from tests.conftest import RunningTopology
from tests.mailbox import Flaky, SmtpCatcher, wait_for_mail


@pytest.fixture
def connection(topology: RunningTopology) -> Iterator[redis.Redis]:
    client = queue_connection(topology.app_settings())
    yield client
    client.close()


@pytest.fixture
def queue_name() -> str:
    return f"test-mail-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _keep_signal_handlers() -> Iterator[None]:
    """RQ's worker installs SIGINT/SIGTERM handlers; give pytest its own back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    tasks.use_transport(None)


def _message() -> MailMessage:
    return MailMessage(
        to=f"retry-{uuid.uuid4().hex[:8]}@example.org", subject="Retry me", text="hello", html="<p>hello</p>"
    )


def _work_until_settled(connection: redis.Redis, queue_name: str, job: Job, timeout: float = 20) -> Job:
    """Run burst workers (each first moves due retries back onto the queue) until the job ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        InlineWorker([queue_name], connection=connection).work(burst=True, with_scheduler=True)
        refresh: Callable[[], None] = job.refresh  # rq leaves it unannotated
        refresh()
        if job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED):
            return job
        time.sleep(0.3)
    raise AssertionError(f"the job did not finish in {timeout}s: {job.get_status()}")


def test_a_deferred_mail_is_retried_until_the_server_accepts_it(
    connection: redis.Redis, queue_name: str, tmp_path: Path
) -> None:
    handler = Flaky(tmp_path, "451 4.3.0 Try again later", failures=1)
    message = _message()
    with SmtpCatcher(tmp_path, handler) as catcher:
        tasks.use_transport(SmtpTransport(catcher.url, "noreply@neurmatic.com"))
        job = enqueue_mail(connection, message, queue=queue_name, retry=Retry(max=3, interval=1))
        job = _work_until_settled(connection, queue_name, job)
    assert job.get_status() == JobStatus.FINISHED
    assert handler.attempts == 2
    assert job.retries_left == 2
    [mail] = wait_for_mail(tmp_path, message.to, timeout=1)
    assert mail["Subject"] == "Retry me" and mail["From"] == "noreply@neurmatic.com"
    assert len(FailedJobRegistry(queue_name, connection=connection)) == 0
    outcomes = connection.hgetall(JOB_OUTCOMES_KEY)
    assert int(outcomes[f"{queue_name}:succeeded".encode()]) == 1  # the outcome the metrics export
    assert int(outcomes[f"{queue_name}:failed".encode()]) == 1  # the first, deferred attempt


def test_a_refused_mail_fails_at_once_and_is_kept_with_the_failed_jobs(
    connection: redis.Redis, queue_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handler = Flaky(tmp_path, "550 5.1.1 No such user", failures=99)
    message = _message()
    with SmtpCatcher(tmp_path, handler) as catcher, caplog.at_level(logging.DEBUG):
        tasks.use_transport(SmtpTransport(catcher.url, "noreply@neurmatic.com"))
        job = enqueue_mail(connection, message, queue=queue_name, retry=Retry(max=3, interval=1))
        job = _work_until_settled(connection, queue_name, job)
    [failure] = [r for r in caplog.records if r.getMessage() == "job failed"]
    assert failure.__dict__["error"] == "PermanentMailFailure" and failure.__dict__["job_id"] == job.id
    # Neither our lines nor RQ's (their extra fields included) name the recipient ("mail.log" is the
    # test's own SMTP server).
    worker_records = [r for r in caplog.records if r.name != "mail.log"]
    assert not [r for r in worker_records if message.to in f"{r.getMessage()} {r.__dict__}"]
    assert job.get_status() == JobStatus.FAILED
    assert handler.attempts == 1  # a 5xx is final: no retry was made
    assert job.id in FailedJobRegistry(queue_name, connection=connection)
    assert list(tmp_path.glob("*.eml")) == []


def test_mail_jobs_carry_the_production_retry_policy_and_a_description_without_the_address(
    connection: redis.Redis, queue_name: str
) -> None:
    message = _message()
    job = enqueue_mail(connection, message, queue=queue_name)
    try:
        assert (job.retries_left, job.retry_intervals) == (5, [2, 10, 60, 300, 900])
        assert mail_retry().intervals == [2, 10, 60, 300, 900]
        assert job.description == "mail to @example.org: Retry me"
        assert job.func_name == "neurmatic.worker.tasks.send_email"
        assert job.args == (message.as_payload(),)
    finally:
        job.delete()


async def test_health_reports_every_queue_and_the_live_worker(topology: RunningTopology) -> None:
    async with api_client(topology.app_settings()) as client:
        queue = (await client.get("/api/v1/health")).json()["data"]["components"]["queue"]
    assert queue["status"] == "up" and queue["workers"] >= 1
    assert set(queue["queues"]) == set(ALL_QUEUES)
    assert all(set(q) == {"depth", "scheduled", "failed"} for q in queue["queues"].values())
