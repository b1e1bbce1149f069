"""Metrics: real counters that move with traffic, bounded labels, admin-only and internal-only access."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from neurmatic.api.metrics.registry import ApiMetrics
from neurmatic.api.metrics.sampler import run_sampler
from neurmatic.api.state import AppClients
from neurmatic.periodic import every
from neurmatic.settings import Settings
from tests.api.accounts import account_client, bearer, create_admin, login
from tests.api.conftest import api_client, asgi_app
from tests.conftest import RunningTopology


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _requests(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], route: str, status: str
) -> float:
    return sum(
        v
        for (name, labels), v in samples.items()
        if name == "neurmatic_http_requests_total"
        and dict(labels).get("route") == route
        and dict(labels).get("status") == status
    )


async def test_counters_move_with_traffic_and_labels_stay_bounded(
    settings: Settings, topology: RunningTopology
) -> None:
    admin, _ = create_admin(topology.state_dir)
    async with account_client(settings) as client:
        token = (await login(client, admin)).json()["data"]["accessToken"]
        before = _samples((await client.get("/api/v1/metrics", headers=bearer(token))).text)
        for i in range(7):
            await client.get(f"/api/v1/articles/no-such-article-{i}")
        for i in range(3):
            await client.get(f"/random/path/{i}")
        after_text = (await client.get("/api/v1/metrics", headers=bearer(token))).text
    after = _samples(after_text)
    assert (
        _requests(after, "/api/v1/articles/{slug}", "404")
        - _requests(before, "/api/v1/articles/{slug}", "404")
        == 7
    )
    assert _requests(after, "unmatched", "404") - _requests(before, "unmatched", "404") == 3
    assert "/random/path/1" not in after_text and "no-such-article-3" not in after_text
    assert after[("neurmatic_redis_up", ())] == 1
    assert ("process_resident_memory_bytes", ()) in after and ("process_cpu_seconds_total", ()) in after
    assert any(name == "neurmatic_http_request_duration_seconds_bucket" for name, _ in after)
    assert any(name == "neurmatic_db_pool_connections_open" for name, _ in after)
    assert any(name == "neurmatic_queue_depth" for name, _ in after)
    # The scrape itself is the one request in flight: counted per request, published when it samples.
    assert after[("neurmatic_http_requests_in_progress", ())] == 1


async def test_requests_in_flight_are_published_by_the_sampler(settings: Settings) -> None:
    async with api_client(settings) as client:  # a direct peer, as the scraper is
        app = asgi_app(client)
        metrics: ApiMetrics = app.state.metrics
        door: Any = app.front_door  # type: ignore[attr-defined]
        answer, release = door.app, asyncio.Event()

        async def held(scope: Scope, receive: Receive, send: Send) -> None:
            await release.wait()
            await answer(scope, receive, send)

        door.app = held
        slow = [asyncio.create_task(client.get(f"/api/v1/categories?held={i}")) for i in range(3)]
        try:
            while metrics.in_flight < 3:
                await asyncio.sleep(0.01)
            door.app = answer
            sampled = _samples((await client.get("/internal/metrics")).text)
        finally:
            door.app = answer
            release.set()
            answered = await asyncio.gather(*slow)
    assert sampled[("neurmatic_http_requests_in_progress", ())] == 4  # three held, and the scrape
    assert [r.status_code for r in answered] == [200] * 3 and metrics.in_flight == 0


async def test_metrics_are_for_admins_and_the_internal_network_only(settings: Settings) -> None:
    from tests.api.accounts import signed_in

    async with account_client(settings) as client:
        anonymous = await client.get("/api/v1/metrics")
        _, member = await signed_in(client)
        as_member = await client.get("/api/v1/metrics", headers=bearer(member["accessToken"]))
        relayed = await client.get("/internal/metrics")  # the test client sends X-Forwarded-For, like nginx
        del client.headers["X-Forwarded-For"]
        direct = await client.get("/internal/metrics")
    assert anonymous.status_code == 401 and as_member.status_code == 403
    assert relayed.status_code == 403
    assert direct.status_code == 200 and "neurmatic_http_requests_total" in direct.text


def test_nginx_never_forwards_the_scrape_endpoint(topology: RunningTopology) -> None:
    with topology.client() as client:
        response = client.get("/internal/metrics")
    assert response.status_code == 404 and "neurmatic_http" not in response.text


async def test_the_sampler_stops_when_cancelled_in_the_middle_of_a_sample(settings: Settings) -> None:
    """redis-py's pipeline can swallow a cancellation mid-read; the sampler must stop anyway, or an API
    instance's shutdown waits on it forever. Cancelled at random points of its Redis round trips."""
    rounds = random.Random(7)
    for attempt in range(60):
        clients = await AppClients.open(settings)
        sampler = asyncio.create_task(run_sampler(clients, ApiMetrics()))
        await asyncio.sleep(rounds.uniform(0, 0.02))
        sampler.cancel()
        done, _ = await asyncio.wait({sampler}, timeout=3)
        await clients.close()
        assert sampler in done and sampler.cancelled(), (
            f"the sampler ignored its cancellation (attempt {attempt})"
        )


async def test_a_periodic_loop_stops_even_when_its_step_swallows_the_cancellation() -> None:
    async def swallowing_step() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # as redis-py's pipeline may
            await asyncio.sleep(10)

    loop = asyncio.create_task(every(30, swallowing_step))
    await asyncio.sleep(0.05)
    loop.cancel()
    done, _ = await asyncio.wait({loop}, timeout=2)
    assert loop in done and loop.cancelled()
