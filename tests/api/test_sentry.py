"""Sentry through the real SDK: a local receiver speaking Sentry's envelope endpoint gets the event of a
forced 500, tagged with the request id, without the request's secrets."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sentry_sdk
from pydantic import SecretStr

from neurmatic.settings import Settings
from tests.api.conftest import api_client, asgi_app
from tests.conftest import RunningTopology


class SentryReceiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.envelopes: list[list[dict[str, Any]]] = []
        self.paths: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: SentryReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        encoding = self.headers.get("content-encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":  # the SDK compresses with brotli when the package is installed (Locust's)
            import brotli

            body = brotli.decompress(body)
        items = [json.loads(line) for line in body.splitlines() if line.strip().startswith(b"{")]
        self.server.paths.append(self.path)
        self.server.envelopes.append(items)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[SentryReceiver]:
    server = SentryReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    sentry_sdk.get_client().close()  # later tests run without Sentry


async def test_a_forced_500_reaches_the_sentry_receiver(
    topology: RunningTopology, receiver: SentryReceiver
) -> None:
    base = topology.app_settings()
    dsn = f"http://publickey@127.0.0.1:{receiver.server_address[1]}/42"
    settings: Settings = base.model_copy(
        update={
            "sentry": base.sentry.model_copy(
                update={"dsn": SecretStr(dsn), "environment": "test-env", "traces_sample_rate": 0.0}
            )
        }
    )
    async with api_client(settings) as client:
        app = asgi_app(client)

        async def explode() -> None:
            raise RuntimeError("forced failure for the Sentry test")

        app.add_api_route("/api/v1/test-explode", explode)
        response = await client.get(
            "/api/v1/test-explode",
            headers={
                "X-Request-ID": "sentry-test-request-0001",
                "Authorization": "Bearer secret-token-value",
            },
        )
    sentry_sdk.flush(timeout=5)
    assert response.status_code == 500 and response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "forced failure" not in response.text
    events = [item for envelope in receiver.envelopes for item in envelope if "exception" in item]
    assert receiver.paths and all(path.startswith("/api/42/") for path in receiver.paths)
    assert len(events) >= 1
    event = events[0]
    assert event["environment"] == "test-env"
    assert event["tags"]["request_id"] == "sentry-test-request-0001"
    assert event["exception"]["values"][-1]["value"] == "forced failure for the Sentry test"
    assert "secret-token-value" not in json.dumps(receiver.envelopes)
