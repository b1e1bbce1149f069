"""Settings read the operators' variable names and refuse unfit secrets outside development."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from neurmatic.errors import ConfigurationError
from neurmatic.secret_policy import check_secrets, generate_secret, secret_problems
from neurmatic.settings import Environment, Settings

STRONG = {
    "JWT_SECRET": "a" * 40 + "jwt",
    "JWT_REFRESH_SECRET": "b" * 40 + "refresh",
    "SESSION_SECRET": "c" * 40 + "session",
    "DATABASE_URL": f"postgresql://neurmatic:{'d' * 40}@db:5432/neurmatic_production",
    "REDIS_PASSWORD": "e" * 40,
}


def test_operator_variable_names_and_formats_are_understood() -> None:
    settings = Settings.from_mapping(
        {
            "NODE_ENV": "production",
            "API_URL": "https://api.neurmatic.com",
            "FRONTEND_URL": "https://neurmatic.com",
            "JWT_EXPIRES_IN": "15m",
            "REFRESH_TOKEN_EXPIRES_IN": "30d",
            "BCRYPT_ROUNDS": "12",
            "RATE_LIMIT_WINDOW_MS": "900000",
            "RATE_LIMIT_MAX_REQUESTS": "100",
            "LOG_LEVEL": "warn",
            "REDIS_SENTINELS": "s1:26379, s2:26379,s3:26379",
            "AWS_S3_BUCKET": "media",
            "S3_BUCKET": "backups",
            "GOOGLE_CLIENT_ID": "gid",
            "GOOGLE_CLIENT_SECRET": "gsecret-value",
            "SENTRY_TRACES_SAMPLE_RATE": "0.1",
        }
    )
    assert settings.app.environment is Environment.PRODUCTION
    assert settings.auth.jwt_expires_in == timedelta(minutes=15)
    assert settings.auth.refresh_token_expires_in == timedelta(days=30)
    assert settings.rate_limit.window_ms == 900_000 and settings.rate_limit.max_requests == 100
    assert settings.redis.sentinels == ["s1:26379", "s2:26379", "s3:26379"]
    assert settings.aws.backup_bucket == "backups" and settings.aws.s3_bucket == "media"
    assert settings.oauth.provider("google").configured and not settings.oauth.provider("github").configured
    assert settings.sentry.traces_sample_rate == 0.1


def test_environment_wins_over_nothing_and_env_file_fills_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=3005\nBCRYPT_ROUNDS=10\nENVIRONMENT=staging\n")
    monkeypatch.setenv("BCRYPT_ROUNDS", "11")
    settings = Settings.load(env_file)
    assert settings.app.port == 3005
    assert settings.auth.bcrypt_rounds == 11  # the process environment wins over the file
    assert settings.app.environment is Environment.STAGING


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_mapping({"JWT_EXPIRES_IN": "fifteen minutes", "BCRYPT_ROUNDS": "2"})
    message = str(caught.value)
    assert "JWT_EXPIRES_IN" in message and "BCRYPT_ROUNDS" in message


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    accepted = Settings.from_mapping({"TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,::1"})
    assert accepted.app.trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "::1"]
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_mapping({"TRUSTED_PROXIES": "127.0.0.1,*"})
    assert "TRUSTED_PROXIES" in str(caught.value) and "'*' is not an IP address" in str(caught.value)


def test_production_refuses_missing_placeholder_and_short_secrets_naming_each() -> None:
    settings = Settings.from_mapping(
        {
            "NODE_ENV": "production",
            "JWT_SECRET": "<generate-64-char-random-string>",
            "SESSION_SECRET": "short",
            "DATABASE_URL": "postgresql://u:<password>@postgres:5432/neurmatic_production",
            "GOOGLE_CLIENT_SECRET": "<production-google-client-secret>",
        }
    )
    with pytest.raises(ConfigurationError) as caught:
        check_secrets(settings)
    message = str(caught.value)
    for expected in (
        "JWT_SECRET is a placeholder",
        "JWT_REFRESH_SECRET is missing",
        "SESSION_SECRET is too short",
        "DATABASE_URL (password) is a placeholder",
        "REDIS_PASSWORD is missing",
        "GOOGLE_CLIENT_SECRET is a placeholder",
    ):
        assert expected in message
    assert "neurmatic secrets generate" in message


def test_production_accepts_strong_secrets_and_development_accepts_none() -> None:
    assert secret_problems(Settings.from_mapping({"ENVIRONMENT": "production", **STRONG})) == []
    assert secret_problems(Settings.from_mapping({"ENVIRONMENT": "development"})) == []


def test_identical_jwt_secrets_are_refused() -> None:
    same = {**STRONG, "JWT_REFRESH_SECRET": STRONG["JWT_SECRET"], "ENVIRONMENT": "production"}
    assert "JWT_REFRESH_SECRET must differ from JWT_SECRET" in secret_problems(Settings.from_mapping(same))


def test_generated_secrets_are_long_and_distinct() -> None:
    secrets = {generate_secret() for _ in range(50)}
    assert len(secrets) == 50 and all(len(s) >= 64 for s in secrets)


def test_secret_values_never_appear_in_the_settings_repr() -> None:
    settings = Settings.from_mapping({"ENVIRONMENT": "production", **STRONG})
    assert STRONG["JWT_SECRET"] not in repr(settings) and "d" * 40 not in repr(settings)


def test_a_random_draw_that_looks_like_a_placeholder_is_never_handed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A real draw from a CI run: 64 random characters that happen to spell "tOdO" (about 1 in 10,000).
    unlucky = "M-qDfayvWk3tOdO9xR2bLw7pQe5sZ1uYc8hNj4gTf6aVmK0iXoE3rDyU2lPbCnHq"
    lucky = "Zp3xL9kQw2Rt7yNb5mVc8hJd4gFs6aUe1iOq0rTyW3eXzB7nMk2LpQ9vRs4tUw6y"
    draws = iter([unlucky, lucky])
    monkeypatch.setattr("neurmatic.secret_policy.secrets.token_urlsafe", lambda _n: next(draws))
    assert generate_secret() == lucky
