"""/api/v1/auth/oauth/{provider}: start a sign-in with Google, LinkedIn or GitHub, and its callback."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Cookie, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from neurmatic.api.auth.oauth.providers import configured_providers
from neurmatic.api.auth.oauth.service import Callback, OAuthService
from neurmatic.api.auth.oauth.state import BINDING_COOKIE, STATE_TTL_SECONDS
from neurmatic.api.auth.presenters import login_body
from neurmatic.api.auth.schemas import LoginResponse
from neurmatic.api.deps import ClientIp, Clients, DbSession
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses

router = APIRouter(prefix="/auth/oauth", tags=["auth"])
# Only the callback needs the cookie: scoping it there keeps it out of every other request.
COOKIE_PATH = "/api/v1/auth/oauth"

ProviderName = Annotated[str, Path(description="`google`, `linkedin` or `github`", max_length=32)]
BindingCookie = Annotated[str | None, Cookie(alias=BINDING_COOKIE, include_in_schema=False)]


def _query(description: str) -> object:
    return Query(max_length=2048, description=description)


@router.get("/providers", summary="The sign-in providers configured on this server (for the sign-in page)")
async def providers(clients: Clients) -> Response:
    return success({"providers": configured_providers(clients.settings)})


@router.get(
    "/{provider}",
    summary="Start signing in with a provider (redirects to it)",
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "To the provider's sign-in page"}, **error_responses(404, 429, 503)},
)
async def start(
    provider: ProviderName, clients: Clients, ip: ClientIp, binding: BindingCookie = None
) -> Response:
    url, started = await OAuthService(clients).start(provider, ip, binding)
    response = RedirectResponse(url, status_code=302)
    # httpOnly: scripts never see it; Lax: the browser still sends it on the provider's top-level
    # redirect back to us (Strict would not); Secure: never over plain HTTP.
    response.set_cookie(
        BINDING_COOKIE,
        started.binding,
        max_age=STATE_TTL_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        secure=True,
        samesite="lax",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get(
    "/{provider}/callback",
    summary="Where the provider sends the browser back: signs in, links or creates the account",
    response_model=LoginResponse,
    responses={
        302: {"description": "To OAUTH_SUCCESS_REDIRECT, tokens in the URL fragment (when configured)"},
        **error_responses(401, 404, 429, 503),
    },
)
async def callback(
    provider: ProviderName,
    request: Request,
    clients: Clients,
    db: DbSession,
    ip: ClientIp,
    code: Annotated[str | None, _query("The authorization code")] = None,
    state: Annotated[str | None, _query("The state sent with the authorization request")] = None,
    error: Annotated[str | None, _query("Set by the provider when the user refused or it failed")] = None,
    binding: BindingCookie = None,
) -> Response:
    issued = await OAuthService(clients).finish(
        provider,
        Callback(code=code, state=state, error=error, binding=binding),
        db,
        ip=ip,
        user_agent=request.headers.get("user-agent", ""),
    )
    await db.commit()
    target = clients.settings.oauth.success_redirect
    response: Response
    if target:
        # The fragment stays in the browser: it is not sent to the frontend's server, not logged by
        # proxies and not leaked in a Referer header, unlike a query string.
        tokens = urlencode(issued.tokens.model_dump(by_alias=True))
        response = RedirectResponse(f"{target.split('#')[0]}#{tokens}", status_code=302)
    else:
        response = success(login_body(issued.user, issued.tokens))
    # The binding cookie is left to expire: another tab may have a sign-in of its own under way.
    response.headers["Cache-Control"] = "no-store"
    return response
