"""``GET /api/v1/articles`` and an anonymous reader's article page answered by the front door, without
FastAPI's middleware, routing and dependency solving: the site's most frequent requests, for which that
machinery cost more CPU than the answer (a cached body is one Redis round trip; a page of the list or an
article one SQL statement).

Only the happy path is taken here. A request whose query the route would refuse or coerce (a page that
is not plain digits, an unknown sort), or whose credentials are not a plain Bearer token (a cookie, a
malformed header), is left to the route, which answers exactly as it always has. Once taken, a request
is answered here to the end: an error it meets (the session ended, the database is down) is rendered by
the app's own exception handlers, so the error bodies are the route's. The route (read_router.py) and
this path share ``list_answer``; the filters are the route's parameters, bounded the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import asyncpg
from fastapi.security import HTTPAuthorizationCredentials
from redis.exceptions import RedisError
from starlette.requests import Request, cookie_parser
from starlette.responses import Response
from starlette.types import Scope

from neurmatic.api.articles import listing
from neurmatic.api.articles.cache import (
    CACHED_INPUT_CHARS,
    LIST_PATH,
    SCOPE_VIEW,
    CacheView,
    detail_body,
    detail_entry,
    detail_key,
    list_key,
)
from neurmatic.api.articles.read_router import list_answer, on_replayed_node, read_response
from neurmatic.api.deps import ACCESS_COOKIE, authenticate_reader, signed_in_claims
from neurmatic.api.memo import remembered_when_short
from neurmatic.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE, Paging
from neurmatic.api.security.middleware import SCOPE_DECISION, FastAnswer
from neurmatic.api.security.rate_limit import Decision, Limit, fail_open, rate_key
from neurmatic.api.state import AppClients
from neurmatic.domain.articles.inputs import ArticleFilters, ArticleSort
from neurmatic.domain.articles.models import ArticleStatus
from neurmatic.domain.articles.views import PENDING_VIEWS, count_view
from neurmatic.domain.sessions.store import SessionStore
from neurmatic.errors import ApiError, NotFound

SessionCheck = Callable[[str, str], Awaitable[bool]]

_STATUSES = {status.value: status for status in ArticleStatus}
_SORTS = {sort.value: sort for sort in ArticleSort}
_MAX_QUERY = 200  # the route's Query(max_length=200)


@dataclass(frozen=True)
class _MatchedRoute:
    """What the metrics and the access log read of a route (its template) for an answer given before
    routing."""

    path_format: str


_LIST_ROUTE = _MatchedRoute(LIST_PATH)
_ARTICLE_ROUTE = _MatchedRoute(f"{LIST_PATH}/{{slug}}")
_ARTICLE_PREFIX = f"{LIST_PATH}/"


def _bounded(value: str, highest: int) -> int | None:
    # Length first: int() refuses a string of more than 4,300 digits with an exception.
    if len(value) > len(str(highest)) or not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 1 <= number <= highest else None


@remembered_when_short(entries=1024, longest=CACHED_INPUT_CHARS)  # readers ask the same few queries
def parse_list_query(query_string: bytes) -> tuple[ArticleFilters, Paging] | None:
    """The route's parameters from the query, as Starlette reads them (the last of repeated names wins);
    None for anything the route would refuse or have to coerce. (Both results are frozen.)"""
    params = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    page = _bounded(params.get("page", "1"), MAX_PAGE)
    limit = _bounded(params.get("limit", str(DEFAULT_LIMIT)), MAX_LIMIT)
    status = params.get("status")
    sort = _SORTS.get(params.get("sort", ArticleSort.NEWEST.value))
    q = params.get("q")
    if page is None or limit is None or sort is None or (status is not None and status not in _STATUSES):
        return None
    if q is not None and len(q) > _MAX_QUERY:
        return None
    filters = ArticleFilters(
        params.get("category"),
        params.get("tag"),
        params.get("author"),
        _STATUSES[status] if status is not None else None,
        q,
        sort,
    )
    return filters, Paging(page, limit)


def _bearer_token(scope: Scope) -> str | None:
    """The token of a plain ``Authorization: Bearer <token>``; "" for an anonymous request; None when
    the credentials are anything else (left to the route, which explains what is wrong)."""
    token = ""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            # Anything but exactly "Bearer <token>" (a second header, spaces around the token) is the
            # route's to judge, as FastAPI reads it.
            if scheme.lower() != "bearer" or not credentials or credentials != credentials.strip() or token:
                return None
            token = credentials
        elif name == b"cookie" and ACCESS_COOKIE in cookie_parser(value.decode("latin-1")):
            return None  # a cookie session: CSRF and the cookie's own checks are the route's
    return token


async def answer_articles(scope: Scope, client: str, limit: Limit) -> FastAnswer | None:
    """The front door's lean path for the article list and anonymous article pages."""
    try:
        return await _answer_articles(scope, client, limit)
    except Exception as exc:  # an error of the lean path itself still gets the API's error body
        decision: Decision | None = scope.setdefault("state", {}).get(SCOPE_DECISION)
        if decision is None:
            return None  # nothing counted yet: the route takes the request, and counts it
        return decision, await _handled(Request(scope), exc)


async def _answer_articles(scope: Scope, client: str, limit: Limit) -> FastAnswer | None:
    if scope["method"] != "GET":
        return None
    path: str = scope["path"]
    if path == LIST_PATH:
        return await _answer_list(scope, client, limit)
    slug = path[len(_ARTICLE_PREFIX) :] if path.startswith(_ARTICLE_PREFIX) else ""
    if slug and "/" not in slug and _bearer_token(scope) == "":
        return await _answer_article(scope, client, limit, slug)
    return None


async def _cached_read(
    scope: Scope, client: str, limit: Limit, key: str, count_view_in: str = ""
) -> tuple[Decision, bytes | None, int]:
    """Count the request and read the cached answer in one round trip; what was read stays in the scope
    for the route (the view it caches under, the decision, so the request is not counted again)."""
    clients: AppClients = scope["app"].state.clients
    state = scope.setdefault("state", {})
    try:
        decision, view, body, views = await clients.article_cache.hit_and_read(
            rate_key("global", client), limit, key, count_view_in
        )
    except RedisError as exc:
        decision, body, views = fail_open("global", limit, exc), None, 0
    else:
        state[SCOPE_VIEW] = view
    state[SCOPE_DECISION] = decision
    return decision, body, views


async def _answer_article(scope: Scope, client: str, limit: Limit, slug: str) -> FastAnswer:
    """An article page for an anonymous reader: from the cache (its view counted in the same round
    trip), else in one statement from the node that has replayed the last write, then cached."""
    scope["route"] = _ARTICLE_ROUTE
    decision, entry, pending = await _cached_read(scope, client, limit, detail_key(slug), PENDING_VIEWS)
    if entry is not None:
        return decision, read_response(detail_body(entry, pending), "cache", "HIT")
    if not decision.allowed:
        return decision, None
    request = Request(scope)
    try:
        return decision, await _read_article(request, slug)
    except Exception as exc:  # answered as the route's error would be, by the app's own handlers
        return decision, await _handled(request, exc)


async def _read_article(request: Request, slug: str) -> Response:
    clients: AppClients = request.app.state.clients
    view: CacheView | None = request.scope["state"].get(SCOPE_VIEW)

    async def read(conn: asyncpg.Connection) -> asyncpg.Record | None:
        return await listing.read_published_article(conn, slug)

    row, source = await on_replayed_node(clients, view, read)
    if row is None:
        raise NotFound("no such article")
    data = listing.article_page(row, await count_view(clients.hot, row["id"]))
    if view is not None:
        await clients.article_cache.put(view, detail_key(slug), detail_entry(row["id"], data, row["views"]))
    return read_response({"success": True, "data": data}, source, "MISS")


async def _answer_list(scope: Scope, client: str, limit: Limit) -> FastAnswer | None:
    parsed, token = parse_list_query(scope["query_string"]), _bearer_token(scope)
    if parsed is None or token is None:
        return None
    scope["route"] = _LIST_ROUTE
    clients: AppClients = scope["app"].state.clients
    if not token:
        decision, body, _ = await _cached_read(scope, client, limit, list_key(scope["query_string"]))
        if body is not None:
            return decision, read_response(body, "cache", "HIT")
        return decision, await _answer(scope, clients, None, *parsed) if decision.allowed else None
    try:
        claims = clients.tokens.decode_access(token)
    except ApiError:
        return None  # the route counts the request and explains the 401
    decision, session_active = await _signed_in_read(scope, clients, client, limit, claims.session_id)
    if not decision.allowed:
        return decision, None
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    return decision, await _answer(scope, clients, (credentials, session_active), *parsed)


async def _signed_in_read(
    scope: Scope, clients: AppClients, client: str, limit: Limit, session_id: str
) -> tuple[Decision, SessionCheck | None]:
    """Count the request, read the cache view and the reader's session in one round trip."""
    try:
        decision, view, owner, last_active = await clients.article_cache.hit_and_read_session(
            rate_key("global", client), limit, SessionStore.key(session_id)
        )
    except RedisError as exc:  # the session is asked again on its own, and that failure answered 503
        return fail_open("global", limit, exc), None
    scope["state"][SCOPE_VIEW] = view
    scope["state"][SCOPE_DECISION] = decision

    async def session_active(sid: str, user_id: str) -> bool:
        return await clients.sessions.is_active_as_read(sid, user_id, owner, last_active)

    return decision, session_active


async def _answer(
    scope: Scope,
    clients: AppClients,
    reader: tuple[HTTPAuthorizationCredentials, SessionCheck | None] | None,
    filters: ArticleFilters,
    paging: Paging,
) -> Response:
    request = Request(scope)
    try:
        viewer, claims = None, None
        if reader is not None and listing.needs_viewer(filters):
            viewer = (await authenticate_reader(request, clients, *reader)).user
        elif reader is not None:  # the account is read with the page, in its statement
            claims = await signed_in_claims(request, clients, *reader)
        return read_response(*await list_answer(clients, scope, viewer, filters, paging, claims))
    except Exception as exc:  # answered as the route's error would be, by the app's own handlers
        return await _handled(request, exc)


async def _handled(request: Request, exc: Exception) -> Response:
    handlers = request.app.exception_handlers
    for kind in type(exc).__mro__:
        if kind in handlers:
            response: Response = await handlers[kind](request, exc)
            return response
    raise exc
