"""Every error answers with the one error body; nothing internal leaks."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.api.conftest import api_client
from tests.conftest import RunningTopology


async def test_unknown_route_and_wrong_method_get_the_error_body(topology: RunningTopology) -> None:
    async with api_client(topology.app_settings()) as client:
        missing = await client.get("/api/v1/nowhere")
        wrong_method = await client.post("/api/v1/health/live")
    assert missing.status_code == 404
    assert missing.json() == {
        "success": False,
        "error": {"code": "NOT_FOUND", "message": "Not Found", "details": None},
    }
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_request_id_is_kept_when_sane_and_replaced_when_not(topology: RunningTopology) -> None:
    async with api_client(topology.app_settings()) as client:
        kept = await client.get("/api/v1/health/live", headers={"X-Request-ID": "abcdef0123456789"})
        replaced = await client.get("/api/v1/health/live", headers={"X-Request-ID": 'bad id" <script>'})
    assert kept.headers["x-request-id"] == "abcdef0123456789"
    assert (
        replaced.headers["x-request-id"] != 'bad id" <script>' and len(replaced.headers["x-request-id"]) == 32
    )


async def test_openapi_documents_the_health_endpoints(topology: RunningTopology) -> None:
    async with api_client(topology.app_settings()) as client:
        spec = (await client.get("/api/openapi.json")).json()
        docs = await client.get("/api/docs")
    assert {"/api/v1/health", "/api/v1/health/live", "/api/v1/health/ready"} <= set(spec["paths"])
    assert docs.status_code == 200


def test_create_app_refuses_weak_secrets_in_production(topology: RunningTopology) -> None:
    import pytest

    from neurmatic.api.app import create_app
    from neurmatic.errors import ConfigurationError

    weak = topology.app_settings()
    weak.auth.jwt_secret = SecretStr("changeme")
    with pytest.raises(ConfigurationError, match="JWT_SECRET is a placeholder"):
        create_app(weak)


async def test_access_log_lines_carry_request_user_route_status_and_duration(
    topology: RunningTopology, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from tests.api.accounts import account_client, bearer, fast_settings, signed_in

    async with account_client(fast_settings(topology.app_settings())) as client:
        _, tokens = await signed_in(client)
        with caplog.at_level(logging.INFO, logger="neurmatic.access"):
            await client.get(
                "/api/v1/users/me",
                headers={**bearer(tokens["accessToken"]), "X-Request-ID": "log-test-request-01"},
            )
    [line] = [r for r in caplog.records if getattr(r, "request_id", None) == "log-test-request-01"]
    fields = vars(line)  # the access log's ``extra``
    assert fields["route"] == "/api/v1/users/me" and fields["status"] == 200
    assert fields["user_id"] == tokens["user"]["id"] and fields["duration_ms"] > 0


async def test_an_unreachable_redis_is_a_503_with_retry_after_not_a_500(topology: RunningTopology) -> None:
    from tests.api.accounts import account_client, bearer, fast_settings, signed_in
    from tests.support import port_is_free

    settings = fast_settings(topology.app_settings())
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)  # a session stored in Redis while it was there
    closed = next(p for p in range(46100, 46200) if port_is_free(p))
    settings.redis.sentinels = [f"127.0.0.1:{closed}"]  # every Sentinel gone: no master to be found
    settings.redis.socket_timeout_seconds = 0.5
    async with api_client(settings) as client:
        response = await client.get("/api/v1/users/me", headers=bearer(tokens["accessToken"]))
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert response.headers["retry-after"] == "2"


async def test_a_405_names_every_method_the_path_serves(topology: RunningTopology) -> None:
    # Starlette named only the first matching route's methods: DELETE /articles said "Allow: GET".
    async with api_client(topology.app_settings()) as client:
        articles = await client.delete("/api/v1/articles")
        uploads = await client.get("/api/v1/media/uploads")
    assert articles.status_code == 405 and articles.headers["allow"] == "GET, POST"
    assert articles.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert uploads.status_code == 405 and uploads.headers["allow"] == "POST"


async def test_a_refused_cors_preflight_speaks_the_error_body(topology: RunningTopology) -> None:
    async with api_client(topology.app_settings()) as client:
        refused = await client.options(
            "/api/v1/articles",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "Disallowed CORS origin",
        "details": None,
    }


async def test_an_api_path_is_exact_no_redirect_to_a_trailing_slash(topology: RunningTopology) -> None:
    # The 307 repeated the URI percent-encoded in Location (overflowing the edge's buffer) and named the
    # wrong port behind nginx.
    async with api_client(topology.app_settings()) as client:
        slash = await client.get("/api/v1/categories/")
    assert slash.status_code == 404 and "location" not in slash.headers
