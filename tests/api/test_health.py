"""Health, readiness and liveness tell the truth about real components, and leak nothing: the public
(anyone not an administrator, or relayed by nginx) learns the verdict only."""

from __future__ import annotations

import socket

import httpx

from neurmatic.api.app import create_app
from neurmatic.settings import Settings
from tests.api.accounts import account_client, bearer, create_admin, fast_settings, login, signed_in
from tests.api.conftest import api_client, asgi_app
from tests.conftest import RunningTopology


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with(settings: Settings, **changes: object) -> Settings:
    values = {name: getattr(settings, name).model_copy(update=update) for name, update in changes.items()}
    return settings.model_copy(update=values)


async def test_live_ready_and_health_are_green_on_the_topology(topology: RunningTopology) -> None:
    async with api_client(topology.app_settings()) as client:
        assert (await client.get("/api/v1/health/live")).status_code == 200
        ready = await client.get("/api/v1/health/ready")
        assert ready.status_code == 200 and ready.json()["data"]["status"] == "ready"
        health = await client.get("/api/v1/health")
    body = health.json()
    assert health.status_code == 200 and body["success"] is True
    assert body["data"]["status"] == "healthy"
    assert set(body["data"]["components"]) == {
        "database",
        "database_replica",
        "redis",
        "sentinel",
        "queue",
        "patroni",
        "wal_archive",
    }
    assert health.headers["cache-control"] == "no-store"


async def test_a_stopped_redis_shows_as_down_and_the_instance_is_not_ready(topology: RunningTopology) -> None:
    settings = topology.app_settings()
    dead = f"127.0.0.1:{_closed_port()}"
    broken = _with(
        settings, redis={"sentinels": [], "url": settings.redis.url.__class__(f"redis://{dead}/0")}
    )
    async with api_client(broken) as client:
        health = await client.get("/api/v1/health")
        ready = await client.get("/api/v1/health/ready")
        live = await client.get("/api/v1/health/live")
    data = health.json()["data"]
    assert health.status_code == 503 and data["status"] == "unhealthy"
    assert data["components"]["redis"]["status"] == "down"
    assert data["components"]["redis"]["reason"] == "connection failed"
    assert data["components"]["database"]["status"] == "up"
    assert ready.status_code == 503 and ready.json()["data"]["components"]["redis"] == "down"
    assert live.status_code == 200  # the process still serves: liveness must not restart it for Redis
    assert dead not in health.text


async def test_a_dead_standby_degrades_health_and_reads_fall_back_to_the_primary(
    topology: RunningTopology,
) -> None:
    settings = topology.app_settings()
    replica_url = f"postgresql://neurmatic:x@127.0.0.1:{_closed_port()}/neurmatic_production"
    broken = _with(settings, database={"replica_url": settings.database.url.__class__(replica_url)})
    async with api_client(broken) as client:
        health = await client.get("/api/v1/health")
        app = asgi_app(client)
        async with app.state.clients.db.read_session() as session:
            in_recovery = (
                await session.execute(__import__("sqlalchemy").text("SELECT pg_is_in_recovery()"))
            ).scalar()
    data = health.json()["data"]
    assert health.status_code == 200 and data["status"] == "degraded"
    assert data["components"]["database_replica"]["status"] == "down"
    assert in_recovery is False


async def test_read_sessions_go_to_the_standby_when_it_is_healthy(topology: RunningTopology) -> None:
    from sqlalchemy import text

    async with api_client(topology.app_settings()) as client:
        app = asgi_app(client)
        db = app.state.clients.db
        async with db.read_session() as session:
            read_on_standby = (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar()
        async with db.session() as session:
            write_on_standby = (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar()
    assert read_on_standby is True and write_on_standby is False


async def test_the_public_gets_the_verdict_only_and_administrators_the_report(
    topology: RunningTopology,
) -> None:
    settings = fast_settings(topology.app_settings())
    async with account_client(settings) as client:  # sends X-Forwarded-For: relayed, as by nginx
        anonymous = await client.get("/api/v1/health")
        _, member = await signed_in(client)
        as_member = await client.get("/api/v1/health", headers=bearer(member["accessToken"]))
        admin, _ = create_admin(topology.state_dir)
        admin_token = (await login(client, admin)).json()["data"]["accessToken"]
        as_admin = await client.get("/api/v1/health", headers=bearer(admin_token))
        forged = await client.get("/api/v1/health", headers=bearer("not-a-token"))
        del client.headers["X-Forwarded-For"]
        internal = await client.get("/api/v1/health")  # a direct peer on loopback: the internal network
    instance = settings.app.instance
    for public in (anonymous, as_member):
        assert public.status_code == 200 and public.json() == {"success": True, "data": {"status": "healthy"}}
        assert "x-served-by" not in public.headers and instance not in public.text
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"
    for detailed in (as_admin, internal):
        data = detailed.json()["data"]
        assert data["status"] == "healthy" and data["instance"] == instance and "version" in data
        assert data["components"]["database_replica"]["role"] == "standby"
    assert "x-served-by" not in as_admin.headers  # the instance is named to the internal network only
    assert internal.headers["x-served-by"] == instance


async def test_an_outside_peer_without_a_proxy_is_public_too(topology: RunningTopology) -> None:
    app = create_app(topology.app_settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            health = await client.get("/api/v1/health")
            live = await client.get("/api/v1/health/live")
    assert health.json() == {"success": True, "data": {"status": "healthy"}}
    assert "x-served-by" not in health.headers and "x-served-by" not in live.headers


def test_through_nginx_health_says_only_the_verdict_on_https_and_plain_http(
    topology: RunningTopology,
) -> None:
    plain = f"http://127.0.0.1:{topology.state.ports.http}/api/v1/health"
    with topology.client() as client, httpx.Client(timeout=10) as http:
        answers = [client.get("/api/v1/health"), http.get(plain), client.get("/api/v1/articles")]
    for response in answers[:2]:
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True, "data": {"status": "healthy"}}
    for response in answers:
        assert "x-served-by" not in response.headers
    with topology.client() as client:
        ready = client.get("/api/v1/health/ready")
    assert ready.json() == {"success": True, "data": {"status": "ready"}}  # which dependency: internal only
