"""``create_app(settings)``: the ASGI application, its lifespan, routers, middleware and error handlers."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from neurmatic import __version__
from neurmatic.api.admin.dashboard import MOUNT as DASHBOARD_MOUNT
from neurmatic.api.admin.dashboard import AdminDashboardGuard, build_dashboard
from neurmatic.api.admin.login_page import router as admin_login_router
from neurmatic.api.admin.router import router as admin_router
from neurmatic.api.articles.fast_list import answer_articles
from neurmatic.api.articles.read_router import router as articles_read_router
from neurmatic.api.articles.router import router as articles_router
from neurmatic.api.auth.email_router import router as email_router
from neurmatic.api.auth.oauth.router import router as oauth_router
from neurmatic.api.auth.router import router as auth_router
from neurmatic.api.auth.twofactor_router import router as twofactor_router
from neurmatic.api.docs_page import install_docs
from neurmatic.api.errors import install_error_handlers
from neurmatic.api.front_door import FrontDoor
from neurmatic.api.health.router import router as health_router
from neurmatic.api.media.router import router as media_router
from neurmatic.api.metrics.registry import ApiMetrics
from neurmatic.api.metrics.router import api_router as metrics_router
from neurmatic.api.metrics.router import internal_router as internal_metrics_router
from neurmatic.api.metrics.sampler import run_sampler
from neurmatic.api.notifications.hub import NotificationHub
from neurmatic.api.notifications.router import router as notifications_router
from neurmatic.api.notifications.socket import router as socket_router
from neurmatic.api.observability import SentryRequestTag
from neurmatic.api.security.client_ip import ForwardedHeaders
from neurmatic.api.security.cors import JsonCORSMiddleware
from neurmatic.api.security.middleware import BodySizeLimitMiddleware, GlobalRateLimitMiddleware
from neurmatic.api.security.openapi import install_openapi
from neurmatic.api.security.rate_limit import Limit
from neurmatic.api.state import AppClients
from neurmatic.api.users.router import router as users_router
from neurmatic.domain.users.passwords import prepare_dummy_hashes
from neurmatic.secret_policy import check_secrets
from neurmatic.sentry import init_sentry
from neurmatic.settings import Settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings) -> FastAPI:
    """Build the app. Unfit secrets outside development stop it here, before any client opens."""
    check_secrets(settings)
    sentry = init_sentry(settings, "api")

    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.clients = await AppClients.open(settings)
        await asyncio.to_thread(prepare_dummy_hashes, settings.auth.bcrypt_rounds)
        sampler = asyncio.create_task(run_sampler(app.state.clients, metrics), name="metrics-sampler")
        app.state.hub = NotificationHub(app.state.clients.redis)
        app.state.hub.start()
        # What start-up built (modules, routes, the ORM's mappers: hundreds of thousands of objects) lives
        # as long as the process: out of the collector's sight, a full collection no longer walks it.
        # Each of those took 100-140 ms with the loop stopped: the p99 of a cached read was that pause.
        gc.collect()  # start-up's garbage first: what is frozen is never collected
        gc.freeze()
        try:
            yield
        finally:
            sampler.cancel()
            await app.state.hub.stop()
            await asyncio.wait({sampler}, timeout=3)
            await app.state.clients.close()

    app = NeurmaticAPI(
        title="Neurmatic API",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served from our own origin (docs_page.py), not the CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
        # No 307 to the path with(out) a trailing slash: its Location repeated the URI percent-encoded
        # (3 bytes for each raw '"'), which overflowed nginx's header buffer ("upstream sent too big
        # header" takes an instance out), and named the wrong port behind the edge. An API path is exact.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    api = APIRouter(prefix=API_PREFIX)
    for router in (
        health_router,
        auth_router,
        email_router,
        oauth_router,
        twofactor_router,
        users_router,
        admin_router,
        articles_read_router,
        articles_router,
        metrics_router,
        notifications_router,
        socket_router,
        media_router,
    ):
        api.include_router(router)
    app.include_router(api)
    app.include_router(internal_metrics_router)
    app.include_router(admin_login_router)
    app.mount(DASHBOARD_MOUNT, AdminDashboardGuard(build_dashboard(settings)))
    install_error_handlers(app)
    install_openapi(app)
    install_docs(app)
    limit = Limit(settings.rate_limit.max_requests, max(1, settings.rate_limit.window_ms // 1000))
    install_middleware(app, settings, limit, sentry)
    app.forwarded_headers = ForwardedHeaders(settings.app.trusted_proxies)
    app.front_door = FrontDoor(
        app.behind_front_door,
        instance=settings.app.instance,
        metrics=metrics,
        limit=limit,
        trusted_proxies=settings.app.trusted_proxies,
        fast_path=answer_articles,
    )
    return app


class NeurmaticAPI(FastAPI):
    """FastAPI, with the proxy's headers applied to every request and WebSocket, and every HTTP request
    going through the front door first (front_door.py)."""

    front_door: ASGIApp | None = None
    forwarded_headers: ForwardedHeaders | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.forwarded_headers is not None and scope["type"] != "lifespan":
            self.forwarded_headers.apply(scope)
        if self.front_door is None or scope["type"] != "http":
            await super().__call__(scope, receive, send)
        else:
            scope["app"] = self  # as Starlette sets it: the front door reads the app's clients
            await self.front_door(scope, receive, send)

    async def behind_front_door(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def install_middleware(app: FastAPI, settings: Settings, limit: Limit, sentry: bool) -> None:
    """Inside the front door, outermost last: CORS → body limit → global rate limit (→ Sentry's tag)."""
    if sentry:
        app.add_middleware(SentryRequestTag)
    app.add_middleware(GlobalRateLimitMiddleware, limit=limit, trusted_proxies=settings.app.trusted_proxies)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.app.max_body_bytes)
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=[settings.app.frontend_url.rstrip("/")],
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "X-Request-ID"],
        expose_headers=[
            "X-Request-ID",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "Retry-After",
        ],
        max_age=86400,
    )
