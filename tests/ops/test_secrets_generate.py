"""``neurmatic secrets generate``: a complete env file the production checks accept."""

from __future__ import annotations

import stat
from pathlib import Path

from neurmatic.ops.exit_codes import ExitCode
from neurmatic.private_files import read_env_file
from neurmatic.secret_policy import check_secrets, required_secrets
from neurmatic.settings import Settings
from tests.support import neurmatic

SECRET_VARIABLES = (
    "JWT_SECRET",
    "JWT_REFRESH_SECRET",
    "SESSION_SECRET",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "REPLICATOR_PASSWORD",
    "REDIS_SENTINEL_PASSWORD",
    "POSTGRES_SUPERUSER_PASSWORD",
    "PATRONI_RESTAPI_PASSWORD",
    "METRICS_DB_PASSWORD",
    "METRICS_REDIS_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
)


def test_generates_a_private_complete_env_file_that_production_accepts(tmp_path: Path) -> None:
    out = tmp_path / ".env.production"
    neurmatic("secrets", "generate", "--out", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    values = read_env_file(out)
    for name in SECRET_VARIABLES:
        assert len(values[name]) >= 64, name
    assert len({values[name] for name in SECRET_VARIABLES}) == len(SECRET_VARIABLES)
    for name in (
        "NODE_ENV",
        "API_URL",
        "FRONTEND_URL",
        "DATABASE_URL",
        "REDIS_URL",
        "JWT_EXPIRES_IN",
        "REFRESH_TOKEN_EXPIRES_IN",
        "BCRYPT_ROUNDS",
        "GOOGLE_CALLBACK_URL",
        "LINKEDIN_CLIENT_ID",
        "GITHUB_CLIENT_SECRET",
        "SENDGRID_API_KEY",
        "FROM_EMAIL",
        "SUPPORT_EMAIL",
        "AWS_S3_BUCKET",
        "AWS_REGION",
        "SENTRY_DSN",
        "RATE_LIMIT_WINDOW_MS",
        "RATE_LIMIT_MAX_REQUESTS",
        "LOG_LEVEL",
    ):
        assert name in values, name
    settings = Settings.load(out)
    check_secrets(settings)
    assert all(required_secrets(settings).values())


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    out = tmp_path / ".env.production"
    out.write_text("JWT_SECRET=keep-me\n")
    result = neurmatic("secrets", "generate", "--out", str(out), check=False)
    assert result.returncode == ExitCode.CONFIGURATION and "--force" in result.stderr
    assert out.read_text() == "JWT_SECRET=keep-me\n"
    neurmatic("secrets", "generate", "--out", str(out), "--force")
    assert "keep-me" not in out.read_text()


def test_secrets_are_not_printed_when_written_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "env"
    result = neurmatic("secrets", "generate", "--out", str(out))
    assert read_env_file(out)["JWT_SECRET"] not in result.stdout + result.stderr
