"""The job dashboard (rq-dashboard, a Flask app) at /admin/queues, for administrators in a browser.

It is guarded here, in front of the WSGI app: the request must carry the httpOnly access cookie of an
active administrator's live session (a Bearer header is not accepted: this is a browser page), and every
state-changing request must be a POST from our own origin (Origin, else Referer, must match the Host).
rq-dashboard's own JavaScript cannot send our X-CSRF-Token header, so the origin check is its CSRF
defence, on top of the SameSite=Strict cookie.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote, urlsplit

import rq_dashboard
from a2wsgi import WSGIMiddleware
from flask import Flask
from rq_dashboard.web import setup_rq_connection
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from neurmatic.api.deps import ACCESS_COOKIE
from neurmatic.api.state import AppClients
from neurmatic.domain.users.models import Role, Status, User
from neurmatic.errors import AuthenticationRequired
from neurmatic.settings import RedisSettings, Settings

MOUNT = "/admin/queues"
STATE_CHANGING = {"delete", "requeue", "empty", "compact"}  # path segments of rq-dashboard's actions
MAX_NEXT_BYTES = 512
DASHBOARD_HOME = f"{MOUNT}/"


def redis_url_for_dashboard(settings: RedisSettings) -> str:
    if settings.sentinels:
        return f"redis+sentinel://{','.join(settings.sentinels)}/{settings.sentinel_master}/0"
    return settings.url.get_secret_value()


def build_dashboard(settings: Settings) -> Any:
    flask_app = Flask("neurmatic-queues")
    flask_app.config.from_object(rq_dashboard.default_settings)
    flask_app.config.update(
        RQ_DASHBOARD_REDIS_URL=redis_url_for_dashboard(settings.redis),
        RQ_DASHBOARD_REDIS_PASSWORD=settings.redis.password.get_secret_value()
        if settings.redis.password
        else None,
        RQ_DASHBOARD_REDIS_SENTINEL_PASSWORD=(
            settings.redis.sentinel_password.get_secret_value() if settings.redis.sentinel_password else None
        ),
        SECRET_KEY=uuid.uuid4().hex,
    )
    setup_rq_connection(flask_app)
    flask_app.register_blueprint(rq_dashboard.blueprint)
    return WSGIMiddleware(flask_app)  # type: ignore[arg-type]


async def admin_from_cookie(clients: AppClients, connection: HTTPConnection) -> User | None:
    token = connection.cookies.get(ACCESS_COOKIE)
    if not token:
        return None
    try:
        claims = clients.tokens.decode_access(token)
    except AuthenticationRequired:
        return None
    if not await clients.sessions.is_active(claims.session_id, claims.user_id):
        return None
    async with clients.db.session() as session:
        user = await session.get(User, uuid.UUID(claims.user_id))
    return user if user is not None and user.status is Status.ACTIVE else None


def same_origin(connection: HTTPConnection) -> bool:
    source = connection.headers.get("origin") or connection.headers.get("referer") or ""
    host = connection.headers.get("host", "")
    return bool(source) and urlsplit(source).netloc == host


class AdminDashboardGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        user = await admin_from_cookie(connection.app.state.clients, connection)
        response: Response | None = None
        if user is None:
            target = quote(scope.get("root_path", "") + scope.get("path", ""), safe="/")
            # The path comes back in a header: a long one (percent-encoding triples it) must not be
            # echoed, or the header outgrows the edge's buffer and nginx counts it against the instance.
            target = target if len(target) <= MAX_NEXT_BYTES else DASHBOARD_HOME
            response = RedirectResponse(f"/admin/login?next={target}", status_code=303)
        elif user.role is not Role.ADMIN:
            response = PlainTextResponse("administrators only", status_code=403)
        elif (
            scope["method"] not in ("GET", "HEAD")
            or bool(STATE_CHANGING & set(str(scope.get("path", "")).split("/")))
        ) and (scope["method"] != "POST" or not same_origin(connection)):
            response = PlainTextResponse(
                "changes must be POSTed from this site (CSRF check)", status_code=403
            )
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
