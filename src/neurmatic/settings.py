"""Settings: one object with nested sections, built once in each entry point and passed down.

The operators' environment variable names (``.env.production`` of the guide) work as they are:
``DATABASE_URL``, ``REDIS_URL``, ``JWT_SECRET``, ``JWT_EXPIRES_IN=15m``, ``RATE_LIMIT_WINDOW_MS``, ...
Nothing here reads the environment at import time: :meth:`Settings.load` does, when an entry point
calls it. Outside development, :func:`neurmatic.secret_policy.check_secrets` refuses missing,
placeholder and short secrets before anything starts.
"""

from __future__ import annotations

import ipaddress
import socket
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from neurmatic.durations import parse_duration
from neurmatic.errors import ConfigurationError


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]


class _Section(BaseSettings):
    """A settings section: reads the flat operator variable names from the environment and env file."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)


class AppSettings(_Section):
    environment: Environment = Field(
        default=Environment.DEVELOPMENT, validation_alias=AliasChoices("ENVIRONMENT", "NODE_ENV")
    )
    api_url: str = Field("http://127.0.0.1:3000", validation_alias="API_URL")
    frontend_url: str = Field("http://localhost:5173", validation_alias="FRONTEND_URL")
    log_level: str = Field("info", validation_alias="LOG_LEVEL")
    instance: str = Field(default_factory=socket.gethostname, validation_alias="NEURMATIC_INSTANCE")
    host: str = Field("127.0.0.1", validation_alias="API_HOST")
    port: int = Field(3000, validation_alias="PORT", ge=1, le=65535)
    # Touched on every heartbeat so a container healthcheck can tell a live worker (compose, k8s).
    worker_heartbeat_file: Path | None = Field(None, validation_alias="NEURMATIC_WORKER_HEARTBEAT_FILE")
    max_body_bytes: int = Field(1_048_576, validation_alias="MAX_REQUEST_BODY_BYTES", gt=0)
    trusted_proxies: CsvList = Field(["127.0.0.1", "::1"], validation_alias="TRUSTED_PROXIES")
    # uvicorn worker processes of one API instance (one Python process uses one core at most). 1 for a
    # bare `neurmatic api`; the local topology, compose and Kubernetes size it to the machine.
    web_concurrency: int = Field(1, validation_alias="WEB_CONCURRENCY", ge=1, le=64)
    # Where the workers of one instance keep their metric files, so a scrape of any worker adds up all
    # of them (prometheus_client's multiprocess mode); one directory per instance, emptied at start.
    # `neurmatic api` exports it to the environment, where prometheus_client reads it.
    metrics_dir: Path | None = Field(None, validation_alias="PROMETHEUS_MULTIPROC_DIR")

    @field_validator("environment", mode="before")
    @classmethod
    def _normalise_environment(cls, value: object) -> object:
        aliases = {"dev": "development", "prod": "production", "testing": "test"}
        return aliases.get(str(value).lower(), str(value).lower()) if value is not None else value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        # Checked here, where the message can name the setting, not when the first request arrives.
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network; list the proxies' addresses, e.g. "
                    "TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8"
                ) from None
        return value


class DatabaseSettings(_Section):
    url: SecretStr = Field(
        SecretStr("postgresql://neurmatic@127.0.0.1:5432/neurmatic_production"),
        validation_alias="DATABASE_URL",
    )
    replica_url: SecretStr | None = Field(None, validation_alias="DATABASE_REPLICA_URL")
    pool_size: int = Field(10, validation_alias="DATABASE_POOL_SIZE", ge=1)
    pool_timeout_seconds: float = Field(30.0, validation_alias="DATABASE_POOL_TIMEOUT", gt=0)
    connect_timeout_seconds: float = Field(3.0, validation_alias="DATABASE_CONNECT_TIMEOUT", gt=0)
    # Every statement of the app's connections is cancelled after this (0: never). It stays below the
    # edge's proxy_read_timeout (5 s), so a slow request is answered (503) by the app instead of being
    # timed out by nginx, which would count against the instance (max_fails) and take it out.
    statement_timeout_seconds: float = Field(4.0, validation_alias="DATABASE_STATEMENT_TIMEOUT", ge=0)
    replica_max_lag: Duration = Field(timedelta(seconds=10), validation_alias="DATABASE_REPLICA_MAX_LAG")


class RedisSettings(_Section):
    url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379/0"), validation_alias="REDIS_URL")
    password: SecretStr | None = Field(None, validation_alias="REDIS_PASSWORD")
    sentinels: CsvList = Field([], validation_alias="REDIS_SENTINELS")
    sentinel_master: str = Field("mymaster", validation_alias="REDIS_SENTINEL_MASTER")
    sentinel_password: SecretStr | None = Field(None, validation_alias="REDIS_SENTINEL_PASSWORD")
    socket_timeout_seconds: float = Field(2.0, validation_alias="REDIS_SOCKET_TIMEOUT", gt=0)


class AuthSettings(_Section):
    jwt_secret: SecretStr | None = Field(None, validation_alias="JWT_SECRET")
    jwt_refresh_secret: SecretStr | None = Field(None, validation_alias="JWT_REFRESH_SECRET")
    jwt_expires_in: Duration = Field(timedelta(minutes=15), validation_alias="JWT_EXPIRES_IN")
    refresh_token_expires_in: Duration = Field(
        timedelta(days=30), validation_alias="REFRESH_TOKEN_EXPIRES_IN"
    )
    session_secret: SecretStr | None = Field(None, validation_alias="SESSION_SECRET")
    bcrypt_rounds: int = Field(12, validation_alias="BCRYPT_ROUNDS", ge=4, le=31)
    login_max_failures: int = Field(5, validation_alias="LOGIN_MAX_FAILURES", ge=1)
    login_lockout: Duration = Field(timedelta(minutes=15), validation_alias="LOGIN_LOCKOUT")
    email_verification_ttl: Duration = Field(timedelta(hours=24), validation_alias="EMAIL_VERIFICATION_TTL")
    password_reset_ttl: Duration = Field(timedelta(hours=1), validation_alias="PASSWORD_RESET_TTL")


class OAuthProvider(BaseModel):
    client_id: str | None = None
    client_secret: SecretStr | None = None
    callback_url: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


class OAuthSettings(_Section):
    google_client_id: str | None = Field(None, validation_alias="GOOGLE_CLIENT_ID")
    google_client_secret: SecretStr | None = Field(None, validation_alias="GOOGLE_CLIENT_SECRET")
    google_callback_url: str | None = Field(None, validation_alias="GOOGLE_CALLBACK_URL")
    linkedin_client_id: str | None = Field(None, validation_alias="LINKEDIN_CLIENT_ID")
    linkedin_client_secret: SecretStr | None = Field(None, validation_alias="LINKEDIN_CLIENT_SECRET")
    linkedin_callback_url: str | None = Field(None, validation_alias="LINKEDIN_CALLBACK_URL")
    github_client_id: str | None = Field(None, validation_alias="GITHUB_CLIENT_ID")
    github_client_secret: SecretStr | None = Field(None, validation_alias="GITHUB_CLIENT_SECRET")
    github_callback_url: str | None = Field(None, validation_alias="GITHUB_CALLBACK_URL")
    # The providers' endpoints: their production URLs by default, overridable so tests (or an egress
    # gateway) can point a provider at another server speaking the same protocol.
    google_authorize_url: str = Field(
        "https://accounts.google.com/o/oauth2/v2/auth", validation_alias="GOOGLE_AUTHORIZE_URL"
    )
    google_token_url: str = Field("https://oauth2.googleapis.com/token", validation_alias="GOOGLE_TOKEN_URL")
    google_userinfo_url: str = Field(
        "https://openidconnect.googleapis.com/v1/userinfo", validation_alias="GOOGLE_USERINFO_URL"
    )
    google_jwks_url: str = Field(
        "https://www.googleapis.com/oauth2/v3/certs", validation_alias="GOOGLE_JWKS_URL"
    )
    google_issuer: str = Field("https://accounts.google.com", validation_alias="GOOGLE_ISSUER")
    linkedin_authorize_url: str = Field(
        "https://www.linkedin.com/oauth/v2/authorization", validation_alias="LINKEDIN_AUTHORIZE_URL"
    )
    linkedin_token_url: str = Field(
        "https://www.linkedin.com/oauth/v2/accessToken", validation_alias="LINKEDIN_TOKEN_URL"
    )
    linkedin_userinfo_url: str = Field(
        "https://api.linkedin.com/v2/userinfo", validation_alias="LINKEDIN_USERINFO_URL"
    )
    linkedin_jwks_url: str = Field(
        "https://www.linkedin.com/oauth/openid/jwks", validation_alias="LINKEDIN_JWKS_URL"
    )
    linkedin_issuer: str = Field("https://www.linkedin.com/oauth", validation_alias="LINKEDIN_ISSUER")
    github_authorize_url: str = Field(
        "https://github.com/login/oauth/authorize", validation_alias="GITHUB_AUTHORIZE_URL"
    )
    github_token_url: str = Field(
        "https://github.com/login/oauth/access_token", validation_alias="GITHUB_TOKEN_URL"
    )
    # The REST API root: the user is read from ``/user``, the verified email from ``/user/emails``.
    github_api_url: str = Field("https://api.github.com", validation_alias="GITHUB_API_URL")
    # Where the browser lands after a successful sign-in, tokens in the URL fragment (never sent to a
    # server, never logged); unset, the callback answers the JSON login body instead.
    success_redirect: str | None = Field(None, validation_alias="OAUTH_SUCCESS_REDIRECT")
    http_timeout_seconds: float = Field(10.0, validation_alias="OAUTH_HTTP_TIMEOUT", gt=0)
    # Per client IP, for the start and the callback endpoints each ("COUNT/WINDOW").
    rate_limit: str = Field("20/15m", validation_alias="RATE_LIMIT_OAUTH")

    def provider(self, name: str) -> OAuthProvider:
        """The settings of one provider (``google``, ``linkedin`` or ``github``)."""
        return OAuthProvider(
            client_id=getattr(self, f"{name}_client_id"),
            client_secret=getattr(self, f"{name}_client_secret"),
            callback_url=getattr(self, f"{name}_callback_url"),
        )


class EmailSettings(_Section):
    sendgrid_api_key: SecretStr | None = Field(None, validation_alias="SENDGRID_API_KEY")
    from_email: str = Field("noreply@neurmatic.com", validation_alias="FROM_EMAIL")
    support_email: str = Field("support@neurmatic.com", validation_alias="SUPPORT_EMAIL")
    smtp_url: str | None = Field(None, validation_alias="SMTP_URL")
    sendgrid_api_url: str = Field(
        "https://api.sendgrid.com/v3/mail/send", validation_alias="SENDGRID_API_URL"
    )
    outbox_dir: Path | None = Field(None, validation_alias="MAIL_OUTBOX_DIR")


class AwsSettings(_Section):
    access_key_id: str | None = Field(None, validation_alias="AWS_ACCESS_KEY_ID")
    secret_access_key: SecretStr | None = Field(None, validation_alias="AWS_SECRET_ACCESS_KEY")
    s3_bucket: str | None = Field(None, validation_alias="AWS_S3_BUCKET")
    backup_bucket: str | None = Field(None, validation_alias=AliasChoices("AWS_BACKUP_BUCKET", "S3_BUCKET"))
    region: str = Field("eu-west-1", validation_alias="AWS_REGION")
    endpoint_url: str | None = Field(
        None, validation_alias=AliasChoices("AWS_ENDPOINT_URL", "AWS_S3_ENDPOINT")
    )


class SentrySettings(_Section):
    dsn: SecretStr | None = Field(None, validation_alias="SENTRY_DSN")
    environment: str | None = Field(None, validation_alias="SENTRY_ENVIRONMENT")
    traces_sample_rate: float = Field(0.1, validation_alias="SENTRY_TRACES_SAMPLE_RATE", ge=0, le=1)
    profiles_sample_rate: float = Field(0.1, validation_alias="SENTRY_PROFILES_SAMPLE_RATE", ge=0, le=1)


class NotificationSettings(_Section):
    """Where operators are told of deploys and rollbacks (the guide's ``SLACK_WEBHOOK_URL``)."""

    # A webhook URL is a credential: anyone holding it can post to the channel.
    slack_webhook_url: SecretStr | None = Field(None, validation_alias="SLACK_WEBHOOK_URL")
    slack_timeout_seconds: float = Field(3.0, validation_alias="SLACK_TIMEOUT", gt=0)


class RateLimitSettings(_Section):
    window_ms: int = Field(900_000, validation_alias="RATE_LIMIT_WINDOW_MS", gt=0)
    max_requests: int = Field(100, validation_alias="RATE_LIMIT_MAX_REQUESTS", gt=0)
    # Stricter limits, "COUNT/WINDOW", applied per client IP and per account.
    login: str = Field("10/15m", validation_alias="RATE_LIMIT_LOGIN")
    sign_up: str = Field("5/1h", validation_alias="RATE_LIMIT_REGISTER")
    forgot_password: str = Field("3/1h", validation_alias="RATE_LIMIT_FORGOT_PASSWORD")
    two_factor: str = Field("5/15m", validation_alias="RATE_LIMIT_2FA")


class MediaSettings(_Section):
    storage: str = Field("local", validation_alias="MEDIA_STORAGE", pattern="^(local|s3)$")
    local_dir: Path = Field(Path(".neurmatic-media"), validation_alias="MEDIA_LOCAL_DIR")
    max_bytes: int = Field(10 * 1024 * 1024, validation_alias="MEDIA_MAX_BYTES", gt=0)


class BackupSettings(_Section):
    """The guide's backup policy: where dumps go, and how long each copy is kept."""

    directory: Path | None = Field(None, validation_alias="BACKUP_DIR")  # None: the deployment's default
    retention_days: int = Field(30, validation_alias="BACKUP_RETENTION_DAYS", ge=1)
    s3_retention_days: int = Field(90, validation_alias="BACKUP_S3_RETENTION_DAYS", ge=1)
    s3_storage_class: str = Field("STANDARD_IA", validation_alias="BACKUP_S3_STORAGE_CLASS")
    database: str | None = Field(None, validation_alias="DB_NAME")  # restore's target; None: DATABASE_URL's


class OperationsSettings(_Section):
    """What the operations kit needs to reach a deployment beyond what the API itself uses.

    ``DATABASE_ADMIN_URL``: a role that may dump, create and drop the database (the guide's compose stack
    makes ``POSTGRES_USER`` that role, so it defaults to ``DATABASE_URL``). ``NEURMATIC_API_INSTANCES``:
    each instance's internal address, for the per-instance health report; ``NEURMATIC_CA_FILE``: the CA
    that signed the load balancer's certificate when it is not a public one. ``NEURMATIC_PATRONI_URLS``:
    each database node's Patroni REST API (``http://db1:8008,…``), with ``PATRONI_RESTAPI_PASSWORD`` for
    the failover, switchover and reinitialize requests. ``NEURMATIC_PROMETHEUS_URL`` and
    ``NEURMATIC_ALERTMANAGER_URL``: the monitoring servers (``neurmatic top``, ``neurmatic alerts``).
    """

    admin_database_url: SecretStr | None = Field(None, validation_alias="DATABASE_ADMIN_URL")
    api_instances: CsvList = Field([], validation_alias="NEURMATIC_API_INSTANCES")
    ca_file: Path | None = Field(None, validation_alias="NEURMATIC_CA_FILE")
    patroni_urls: CsvList = Field([], validation_alias="NEURMATIC_PATRONI_URLS")
    patroni_password: SecretStr | None = Field(None, validation_alias="PATRONI_RESTAPI_PASSWORD")
    prometheus_url: str | None = Field(None, validation_alias="NEURMATIC_PROMETHEUS_URL")
    alertmanager_url: str | None = Field(None, validation_alias="NEURMATIC_ALERTMANAGER_URL")


class DisasterRecoverySettings(_Section):
    """The operators' recovery objectives (guide, "Disaster Recovery"): 4 h to recover, 24 h of data.

    ``neurmatic drill`` measures each drill against them; seconds so a drill's figures compare directly.
    """

    rto_seconds: float = Field(4 * 3600, validation_alias="DR_RTO_SECONDS", gt=0)
    rpo_seconds: float = Field(24 * 3600, validation_alias="DR_RPO_SECONDS", ge=0)


class Settings(BaseModel):
    """Every setting of Neurmatic, grouped by concern."""

    app: AppSettings
    database: DatabaseSettings
    redis: RedisSettings
    auth: AuthSettings
    oauth: OAuthSettings
    email: EmailSettings
    aws: AwsSettings
    sentry: SentrySettings
    notifications: NotificationSettings
    rate_limit: RateLimitSettings
    media: MediaSettings
    dr: DisasterRecoverySettings
    backup: BackupSettings
    operations: OperationsSettings

    @classmethod
    def load(cls, env_file: Path | None = None) -> Self:
        """Read the process environment, then ``env_file`` for what the environment does not set."""
        sections = {name: info.annotation for name, info in cls.model_fields.items()}
        try:
            built = {name: section(_env_file=env_file) for name, section in sections.items()}  # type: ignore[misc]
        except (ValidationError, SettingsError) as exc:
            raise _configuration_error(exc) from exc
        return cls(**built)

    @classmethod
    def from_mapping(cls, values: dict[str, str]) -> Self:
        """Build settings from ``values`` alone (operator variable names), ignoring the environment."""
        sections = {name: info.annotation for name, info in cls.model_fields.items()}
        try:
            return cls(**{name: section.model_validate(values) for name, section in sections.items()})  # type: ignore[union-attr]
        except ValidationError as exc:
            raise _configuration_error(exc) from exc

    @property
    def is_development(self) -> bool:
        return self.app.environment in (Environment.DEVELOPMENT, Environment.TEST)


def _configuration_error(exc: ValidationError | SettingsError) -> ConfigurationError:
    """Name each bad variable and say why, without echoing its value (it may be a secret)."""
    if isinstance(exc, SettingsError):
        return ConfigurationError(f"settings could not be read: {exc}", hint="check the env file's syntax")
    problems = []
    for error in exc.errors():
        variable = ".".join(str(part) for part in error.get("loc", ())) or "settings"
        problems.append(f"{variable}: {error.get('msg', 'invalid')}")
    return ConfigurationError(
        "invalid settings: " + "; ".join(problems),
        hint="fix these variables in the environment or the env file",
    )
