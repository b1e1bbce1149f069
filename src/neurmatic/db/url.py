"""``DATABASE_URL`` as the operators write it, including several hosts for failover.

``postgresql://user:pass@host1:5432,host2:5432/db?target_session_attrs=read-write&connection_limit=50``
The Prisma parameters of the original (``connection_limit``, ``pool_timeout``) are honoured as the pool's
size and timeout; the libpq ones (``target_session_attrs``, ``sslmode``) go to the driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode

from neurmatic.errors import ConfigurationError

_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg")
POOL_PARAMS = ("connection_limit", "pool_timeout")


@dataclass(frozen=True)
class DatabaseUrl:
    user: str
    password: str | None
    hosts: list[tuple[str, int]]
    database: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str, *, variable: str = "DATABASE_URL") -> DatabaseUrl:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in _SCHEMES:
            raise ConfigurationError(
                f"{variable} must start with postgresql:// (got {_shown_scheme(url)})",
                hint="write it as postgresql://user:password@host:5432/database",
            )
        netloc, _, path_query = rest.partition("/")
        database, _, query = path_query.partition("?")
        userinfo, at, hostlist = netloc.rpartition("@")
        if not at:
            userinfo, hostlist = "", netloc
        user, _, password = userinfo.partition(":")
        hosts = [_host_port(item, variable) for item in hostlist.split(",") if item]
        if not hosts or not database:
            raise ConfigurationError(
                f"{variable} needs a host and a database name",
                hint="postgresql://user:password@host:5432/database",
            )
        return cls(
            unquote(user),
            unquote(password) if password else None,
            hosts,
            unquote(database),
            dict(parse_qsl(query)),
        )

    @property
    def target_session_attrs(self) -> str:
        return self.params.get("target_session_attrs", "read-write" if len(self.hosts) > 1 else "any")

    @property
    def pool_size(self) -> int | None:
        value = self.params.get("connection_limit")
        return int(value) if value else None

    @property
    def pool_timeout(self) -> float | None:
        value = self.params.get("pool_timeout")
        return float(value) if value else None

    def driver_dsn(self, *, with_pool_params: bool = False) -> str:
        """A libpq-style URL that asyncpg and psycopg both accept (several hosts included)."""
        auth = quote(self.user, safe="")
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        hosts = ",".join(f"{host}:{port}" for host, port in self.hosts)
        params = {k: v for k, v in self.params.items() if with_pool_params or k not in POOL_PARAMS}
        query = f"?{urlencode(params, quote_via=quote)}" if params else ""  # libpq reads "+" literally
        return f"postgresql://{auth}@{hosts}/{quote(self.database, safe='')}{query}"

    def redacted(self) -> str:
        """For logs and messages: the hosts and database, never the password."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.hosts)
        return f"postgresql://{self.user}@{hosts}/{self.database}"


def _host_port(item: str, variable: str) -> tuple[str, int]:
    host, sep, port = item.rpartition(":")
    if not sep:
        return item, 5432
    try:
        return host, int(port)
    except ValueError as exc:
        raise ConfigurationError(
            f"{variable} has a bad host:port (not shown: it may hold the password)",
            hint="write postgresql://user:password@host:5432/database; percent-encode '/', '@' and ':' "
            "in the password",
        ) from exc


def _shown_scheme(url: str) -> str:
    """The scheme of a URL that failed to parse, never more (the rest may hold the password)."""
    scheme = url.split(":", 1)[0]
    return f"{scheme}:…" if scheme.isalnum() and len(scheme) < 20 else "something else"
