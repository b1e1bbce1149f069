"""/admin/login: the cookie sign-in for the admin pages (a form with a double-submit CSRF token)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader

from neurmatic.api.auth.router import set_session_cookies
from neurmatic.api.auth.schemas import LoginRequest
from neurmatic.api.auth.service import AuthService
from neurmatic.api.deps import ClientIp, Clients, DbSession
from neurmatic.domain.users.models import Role
from neurmatic.errors import ApiError

router = APIRouter(include_in_schema=False)
FORM_CSRF_COOKIE = "neurmatic_login_csrf"
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"


_templates = Environment(loader=PackageLoader("neurmatic", "templates/admin"), autoescape=True)


def _page(csrf: str, next_path: str, message: str = "", status: int = 200) -> HTMLResponse:
    body = _templates.get_template("login.html.j2").render(csrf=csrf, next_path=next_path, message=message)
    response = HTMLResponse(
        body, status_code=status, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"}
    )
    response.set_cookie(
        FORM_CSRF_COOKIE,
        csrf,
        max_age=1800,
        httponly=True,
        secure=True,
        samesite="strict",
        path="/admin/login",
    )
    return response


def _safe_next(value: str) -> str:
    # Only our own admin pages: never an absolute URL (open redirect).
    return value if value.startswith("/admin/") and not value.startswith("//") else "/admin/queues/"


@router.get("/admin/login")
async def login_form(next: str = "/admin/queues/") -> Response:
    return _page(secrets.token_urlsafe(32), _safe_next(next))


@router.post("/admin/login")
async def login_submit(
    request: Request,
    clients: Clients,
    db: DbSession,
    ip: ClientIp,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=100)],
    totp: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form(max_length=300)] = "/admin/queues/",
) -> Response:
    fresh = secrets.token_urlsafe(32)
    expected = request.cookies.get(FORM_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf):
        return _page(fresh, _safe_next(next), "The form expired; please sign in again.", status=403)
    try:
        credentials = LoginRequest(email=email, password=password, totp=totp or None)
        issued = await AuthService(clients, db).login(credentials, ip, request.headers.get("user-agent", ""))
    except (ApiError, ValueError) as exc:
        message = exc.message if isinstance(exc, ApiError) else "Enter a valid email and password."
        return _page(fresh, _safe_next(next), message, status=getattr(exc, "status_code", 400))
    if issued.user.role is not Role.ADMIN:
        await clients.sessions.revoke(issued.session_id, str(issued.user.id))
        return _page(fresh, _safe_next(next), "These pages are for administrators.", status=403)
    await db.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookies(response, clients, issued.session_id, issued.tokens.access_token)
    response.delete_cookie(FORM_CSRF_COOKIE, path="/admin/login")
    return response
