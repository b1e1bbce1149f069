"""Which secrets production needs, and whether the ones given are fit to use.

Outside development a missing, placeholder or short secret stops the start, with one message naming
every offending variable, so an operator fixes the env file once instead of once per restart.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from neurmatic.errors import ConfigurationError
from neurmatic.settings import Settings

MIN_SECRET_LENGTH = 32
GENERATED_SECRET_BYTES = 48  # token_urlsafe(48) is 64 characters

_PLACEHOLDER = re.compile(
    r"<[^>]*>|change.?me|placeholder|your[-_ ]|example|^x{3,}$|^secret$|^password$|todo|replace",
    re.IGNORECASE,
)


def is_placeholder(value: str) -> bool:
    return _PLACEHOLDER.search(value) is not None


def generate_secret() -> str:
    """A strong random secret: 64 URL-safe characters (384 bits).

    About one in ten thousand random strings holds a word the placeholder check refuses ("tOdO"); such a
    draw is replaced, or the topology it was made for would refuse to start.
    """
    while is_placeholder(value := secrets.token_urlsafe(GENERATED_SECRET_BYTES)):
        pass
    return value


def _url_password(url: str) -> str | None:
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    userinfo = netloc.rpartition("@")[0] if "@" in netloc else ""
    return userinfo.partition(":")[2] or None


def _redis_password(settings: Settings) -> str | None:
    if settings.redis.password is not None:
        return settings.redis.password.get_secret_value()
    return _url_password(settings.redis.url.get_secret_value())


def required_secrets(settings: Settings) -> dict[str, str | None]:
    """The secrets production cannot run without, by the variable an operator sets."""
    auth = settings.auth
    return {
        "JWT_SECRET": auth.jwt_secret.get_secret_value() if auth.jwt_secret else None,
        "JWT_REFRESH_SECRET": auth.jwt_refresh_secret.get_secret_value() if auth.jwt_refresh_secret else None,
        "SESSION_SECRET": auth.session_secret.get_secret_value() if auth.session_secret else None,
        "DATABASE_URL (password)": _url_password(settings.database.url.get_secret_value()),
        "REDIS_PASSWORD": _redis_password(settings),
    }


def optional_secrets(settings: Settings) -> dict[str, str | None]:
    """Secrets that may be absent (the feature is then off), but never placeholders when present."""
    found: dict[str, str | None] = {}
    for provider in ("google", "linkedin", "github"):
        value = getattr(settings.oauth, f"{provider}_client_secret")
        found[f"{provider.upper()}_CLIENT_SECRET"] = value.get_secret_value() if value else None
    for name, value in (
        ("SENDGRID_API_KEY", settings.email.sendgrid_api_key),
        ("AWS_SECRET_ACCESS_KEY", settings.aws.secret_access_key),
        ("SENTRY_DSN", settings.sentry.dsn),
    ):
        found[name] = value.get_secret_value() if value else None
    return found


def secret_problems(settings: Settings) -> list[str]:
    """One line per unfit secret; empty when every secret is fit for this environment."""
    if settings.is_development:
        return []
    problems: list[str] = []
    for name, value in required_secrets(settings).items():
        if not value:
            problems.append(f"{name} is missing")
        elif is_placeholder(value):
            problems.append(f"{name} is a placeholder")
        elif len(value) < MIN_SECRET_LENGTH:
            problems.append(f"{name} is too short ({len(value)} characters, at least {MIN_SECRET_LENGTH})")
    for name, value in optional_secrets(settings).items():
        if value and is_placeholder(value):
            problems.append(f"{name} is a placeholder")
    auth = settings.auth
    if auth.jwt_secret and auth.jwt_refresh_secret and auth.jwt_secret == auth.jwt_refresh_secret:
        problems.append("JWT_REFRESH_SECRET must differ from JWT_SECRET")
    return problems


def check_secrets(settings: Settings) -> None:
    """Refuse to start with unfit secrets outside development; names every offending variable."""
    problems = secret_problems(settings)
    if problems:
        env = settings.app.environment.value
        raise ConfigurationError(
            f"refusing to start in {env}: " + "; ".join(problems),
            hint="generate strong secrets with `neurmatic secrets generate --out .env.production`",
        )
