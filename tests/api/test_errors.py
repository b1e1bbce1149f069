"""Every error answers with the one error body; nothing internal leaks."""

from __future__ import annotations

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
    weak.auth.jwt_secret = weak.auth.jwt_secret.__class__("changeme")  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="JWT_SECRET is a placeholder"):
        create_app(weak)
