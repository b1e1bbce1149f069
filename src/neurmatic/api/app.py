"""``create_app(settings)``: the ASGI application, its lifespan, routers, middleware and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from neurmatic import __version__
from neurmatic.api.errors import install_error_handlers
from neurmatic.api.health.router import router as health_router
from neurmatic.api.middleware import RequestContextMiddleware
from neurmatic.api.state import AppClients
from neurmatic.secret_policy import check_secrets
from neurmatic.settings import Settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings) -> FastAPI:
    """Build the app. Unfit secrets outside development stop it here, before any client opens."""
    check_secrets(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.clients = await AppClients.open(settings)
        try:
            yield
        finally:
            await app.state.clients.close()

    app = FastAPI(
        title="Neurmatic API",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(health_router)
    app.include_router(api)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, instance=settings.app.instance)
    return app
