"""A dependency that is down (or moving, during a failover) is a 503 with Retry-After, not a 500.

During a Redis or PostgreSQL failover, requests meet refused connections, a master that is now a
replica, or a standby that cannot write. Those are outages of a dependency, not bugs: the client should
retry shortly, and the answer must come from the exception middleware (a handler registered for
``Exception`` re-raises after answering, which also drops the keep-alive connection nginx reuses).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis import exceptions as redis_errors
from sqlalchemy import exc as sa_errors

from neurmatic.api.responses import error

log = logging.getLogger("neurmatic.api")
RETRY_AFTER_SECONDS = 2
# asyncpg errors that mean "this server cannot take the request now", whatever SQLAlchemy wraps them in.
_PG_OUTAGES = (
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.QueryCanceledError,  # DATABASE_STATEMENT_TIMEOUT: the database is too slow now
    # No host of the multi-host URL is read-write: a switchover's window, when the old primary has
    # stepped down and the new one is not promoted yet (asyncpg's own error, not a connection error).
    asyncpg.exceptions.TargetServerAttributeNotMatched,
    OSError,
)
# Text PostgreSQL cannot store (a NUL byte, which any query string or JSON string can carry): the input
# is invalid, a 422 like any other validation failure, never a 500.
_PG_INVALID_TEXT = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)
_REDIS_OUTAGES = (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.ReadOnlyError)


def _driver_error_is(exc: sa_errors.DBAPIError, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether the driver's error under SQLAlchemy's wrapper (or the asyncpg error under the adapter's
    own) is one of ``kinds``."""
    return isinstance(exc.orig, kinds) or isinstance(getattr(exc.orig, "__cause__", None), kinds)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it (``__cause__``), outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__
    return chain


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means a dependency is unreachable or cannot write right now."""
    # asyncpg's own errors come from the hot reads that use its connection directly; a pooled raw connection
    # that cannot be opened raises SQLAlchemy's adapter error (not its DBAPIError wrapper) *from* asyncpg's
    # (e.g. "the database system is shutting down" in a switchover): the cause decides.
    if any(
        isinstance(link, (*_REDIS_OUTAGES, *_PG_OUTAGES, asyncpg.PostgresConnectionError))
        for link in _chain(exc)
    ):
        return True
    if isinstance(exc, sa_errors.TimeoutError):
        return True  # no pooled connection free within DATABASE_POOL_TIMEOUT: the database is saturated
    if isinstance(exc, sa_errors.DBAPIError):
        return bool(
            exc.connection_invalidated
            or isinstance(exc, sa_errors.OperationalError | sa_errors.InterfaceError)
            or _driver_error_is(exc, _PG_OUTAGES)
        )
    return False


def is_invalid_text(exc: BaseException) -> bool:
    """True when PostgreSQL refused a value because of a character it cannot store."""
    if isinstance(exc, _PG_INVALID_TEXT):
        return True
    return isinstance(exc, sa_errors.DBAPIError) and _driver_error_is(exc, _PG_INVALID_TEXT)


def unavailable_response(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "dependency unavailable",
        extra={"request_id": getattr(request.state, "request_id", None), "error": type(exc).__name__},
    )
    return error(
        "SERVICE_UNAVAILABLE",
        "a service this request needs is briefly unavailable; retry shortly",
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def install_outage_handlers(app: FastAPI, unexpected: Handler) -> None:
    """503 for outages; any other database error goes on to ``unexpected`` (the 500 handler)."""

    async def on_redis(request: Request, exc: Exception) -> JSONResponse:
        return unavailable_response(request, exc)

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        if is_outage(exc):
            return unavailable_response(request, exc)
        if is_invalid_text(exc):
            return error(
                "VALIDATION_ERROR",
                "the request contains a character that cannot be stored (such as NUL)",
                status_code=422,
            )
        return await unexpected(request, exc)

    for redis_error in _REDIS_OUTAGES:
        app.add_exception_handler(redis_error, on_redis)
    app.add_exception_handler(ConnectionError, on_redis)  # refused or reset sockets (OSError subclasses)
    app.add_exception_handler(sa_errors.DBAPIError, on_database)
    # The pool's wait ran out: shed the request with a 503 (nginx does not count a 503 against the
    # instance) rather than let it run into the edge's timeout, which takes the instance out.
    app.add_exception_handler(sa_errors.TimeoutError, on_database)
    # The hot reads run on asyncpg's own connection (db.engines.driver_connection): its errors unwrapped.
    app.add_exception_handler(asyncpg.PostgresError, on_database)
    app.add_exception_handler(asyncpg.InterfaceError, on_database)
