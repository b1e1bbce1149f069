"""DATABASE_URL with several hosts, the Prisma pool parameters and libpq options."""

from __future__ import annotations

import pytest

from neurmatic.db.url import DatabaseUrl
from neurmatic.errors import ConfigurationError


def test_multi_host_url_keeps_every_host_and_the_session_attrs() -> None:
    url = DatabaseUrl.parse(
        "postgresql://app:p%40ss@10.0.0.1:5432,10.0.0.2:5433/neurmatic_production"
        "?target_session_attrs=read-write&connection_limit=50&pool_timeout=30"
    )
    assert url.hosts == [("10.0.0.1", 5432), ("10.0.0.2", 5433)]
    assert url.password == "p@ss" and url.user == "app"
    assert url.target_session_attrs == "read-write"
    assert url.pool_size == 50 and url.pool_timeout == 30.0
    assert url.driver_dsn() == (
        "postgresql://app:p%40ss@10.0.0.1:5432,10.0.0.2:5433/neurmatic_production?target_session_attrs=read-write"
    )
    assert "p@ss" not in url.redacted() and "p%40ss" not in url.redacted()


def test_single_host_defaults() -> None:
    url = DatabaseUrl.parse("postgres://app@db/neurmatic")
    assert url.hosts == [("db", 5432)] and url.password is None and url.target_session_attrs == "any"


@pytest.mark.parametrize(
    "bad", ["mysql://u@h/db", "postgresql://u@h:port/db", "postgresql://u@h", "nonsense"]
)
def test_bad_urls_are_refused_with_a_clear_message(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        DatabaseUrl.parse(bad)
