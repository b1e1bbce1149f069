"""The API in-process (ASGI) against the topology's real PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from neurmatic.api.app import create_app
from neurmatic.settings import Settings
from tests.conftest import RunningTopology

AppClient = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client wired to ``create_app(settings)`` with its lifespan running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        # Like a real server: an unhandled error is a 500 response, not an exception in the test.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        # https, so the Secure cookies the API sets are sent back as a browser would.
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            yield client


def asgi_app(client: httpx.AsyncClient) -> FastAPI:
    """The application behind an ``api_client`` (its ``state.clients`` hold the live pools)."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    return app


@pytest.fixture
def settings(topology: RunningTopology) -> Settings:
    """The topology's app settings with fast password hashing: what the API tests run against (a module
    that needs other settings defines its own ``settings``)."""
    from tests.api.accounts import fast_settings  # accounts builds on api_client, above

    return fast_settings(topology.app_settings())
