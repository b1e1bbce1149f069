"""A database that does not answer, refuses the password or the privilege, seen by any command.

Many flows reach PostgreSQL through psycopg, SQLAlchemy or asyncpg; rather than wrapping every call, the
command line translates those libraries' connection and privilege errors here, once, into our errors
with the exit code and the one thing to do. Anything else stays an unexpected error.
"""

from __future__ import annotations

from neurmatic.errors import ConfigurationError, NeurmaticError, TopologyNotRunningError

_AUTH_WORDS = ("password authentication failed", "authentication failed", "no pg_hba.conf entry")
_DOWN_WORDS = ("connection refused", "could not connect", "connection failed", "timeout expired",
               "could not translate host name", "no route to host", "name or service not known")  # fmt: skip


def translate(exc: BaseException) -> NeurmaticError | None:
    """Our error for a database driver's connection or privilege failure, else None."""
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    if not module.startswith(("psycopg", "sqlalchemy", "asyncpg")) and not isinstance(exc, ConnectionError):
        return None
    text = str(exc).splitlines()[0] if str(exc) else name
    lowered = str(exc).lower()
    if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError") or any(
        word in lowered for word in _AUTH_WORDS
    ):
        return ConfigurationError(
            "PostgreSQL refused the credentials",
            hint="check the user and password in DATABASE_URL (and DATABASE_ADMIN_URL)",
        )
    if name == "InsufficientPrivilege" or "permission denied" in lowered:
        return ConfigurationError(
            f"the database role may not do this: {text}",
            hint="set DATABASE_ADMIN_URL to a role that may create and drop databases (the guide's "
            "POSTGRES_USER)",
        )
    if isinstance(exc, ConnectionError) or any(word in lowered for word in _DOWN_WORDS):
        return TopologyNotRunningError(
            "PostgreSQL does not answer at the address DATABASE_URL names",
            hint="is it running and reachable from here? `neurmatic health` checks every server",
        )
    return None
