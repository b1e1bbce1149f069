"""Cron jobs run once across the cluster, and the jobs they run do their work."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue

from neurmatic.adapters.redis import sync_master
from neurmatic.domain.jobs import QueueName
from neurmatic.settings import Settings
from neurmatic.worker import jobs
from neurmatic.worker.cron import CRON_JOBS, CronJob, CronTicker, claim_and_enqueue, cron_job_id
from tests.conftest import RunningTopology


@pytest.fixture
def settings(topology: RunningTopology) -> Settings:
    return topology.app_settings()


def test_two_workers_ticking_the_same_minute_enqueue_each_job_once(settings: Settings) -> None:
    marker = uuid.uuid4().hex[:8]
    job = CronJob(
        f"test-{marker}", QueueName.DEFAULT, "neurmatic.worker.jobs.flush_article_views", every_minutes=1
    )
    minute = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    enqueued: list[tuple[str, str]] = []
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        client = sync_master(settings.redis)
        barrier.wait()
        claim_and_enqueue(
            client, minute, lambda j, occurrence: enqueued.append((name, occurrence)), name, jobs=(job,)
        )
        client.close()

    threads = [threading.Thread(target=worker, args=(f"worker-{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(enqueued) == 1 and enqueued[0][1] == f"test-{marker}:20300101T1200"


def test_the_ticker_catches_up_once_and_daily_jobs_fire_at_their_time(settings: Settings) -> None:
    client = sync_master(settings.redis)
    seen: list[str] = []
    ticker = CronTicker(client, lambda job, occurrence: seen.append(occurrence), "worker-x")
    base = datetime(2031, 3, 4, 1, 57, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 1000)
    ticker.tick(base)
    ticker.tick(base + timedelta(minutes=4, seconds=30))  # down for a while: catches up minute by minute
    ticker.tick(base + timedelta(minutes=4, seconds=50))  # same minute again: nothing new
    client.close()
    day = base.strftime("%Y%m%d")
    assert f"cleanup-expired:{day}T0200" in seen and sum("cleanup-expired" in s for s in seen) == 1
    assert sum("publish-scheduled-articles" in s for s in seen) == 5  # 01:57 .. 02:01, each once
    assert {job.name for job in CRON_JOBS} == {
        "publish-scheduled-articles",
        "flush-article-views",
        "cleanup-expired",
    }


def test_cron_jobs_are_enqueued_on_their_queues(settings: Settings) -> None:
    from neurmatic.worker.housekeeping import Housekeeper

    keeper = Housekeeper(settings, f"test-{uuid.uuid4().hex[:6]}", ["default"])
    minute = datetime(2032, 5, 6, 2, 0, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 1000)
    claimed = keeper.cron.tick(minute)
    queue = Queue("maintenance", connection=keeper.client)
    cleanup = next(c for c in claimed if c.startswith("cleanup-expired"))
    job = queue.fetch_job(cron_job_id(cleanup))
    assert job is not None and job.func_name == "neurmatic.worker.jobs.cleanup_expired"
    for occurrence in claimed:
        for name in ("maintenance", "scheduling", "analytics"):
            found = Queue(name, connection=keeper.client).fetch_job(cron_job_id(occurrence))
            if found is not None:
                found.delete()
    keeper.client.close()


def test_the_jobs_do_their_work(settings: Settings) -> None:
    jobs.use_settings(settings)
    assert jobs.publish_scheduled_articles() >= 0
    assert jobs.flush_article_views() >= 0
    outcome = jobs.cleanup_expired()
    assert set(outcome) == {"tokens", "sessionEntries"}
