"""The complete ``.env.production`` of the operators' guide, with generated secrets.

Secrets the platform generates (database and Redis passwords, JWT and session secrets) are filled in;
credentials issued by third parties (OAuth, SendGrid, AWS, Sentry) are left empty, which the settings
treat as "feature off" rather than as a placeholder to trip over.
"""

from __future__ import annotations

from neurmatic.secret_policy import generate_secret

# The compose file's PostgreSQL nodes (render/compose.py; tests/unit/test_compose_production.py checks
# that both name the same ones). Every node in each URL: libpq finds the role each one asks for.
DATABASE_HOSTS = "postgres-1:5432,postgres-2:5432"


def production_env_file(*, api_url: str, frontend_url: str) -> str:
    postgres_password = generate_secret()
    redis_password = generate_secret()
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        ("Environment", [("NODE_ENV", "production"), ("ENVIRONMENT", "production")]),
        # WEB_CONCURRENCY: uvicorn worker processes per API instance, one per core it may use.
        ("Server", [("API_URL", api_url), ("FRONTEND_URL", frontend_url), ("WEB_CONCURRENCY", "2")]),
        (
            "Database",
            [
                ("POSTGRES_USER", "neurmatic_prod"),
                ("POSTGRES_PASSWORD", postgres_password),
                # Patroni's: the `postgres` superuser (also pg_rewind's), the standby's replication
                # role, and the REST API's POST endpoints (failover, switchover, reinitialize).
                ("POSTGRES_SUPERUSER_PASSWORD", generate_secret()),
                ("REPLICATOR_PASSWORD", generate_secret()),
                ("PATRONI_RESTAPI_PASSWORD", generate_secret()),
                # pgBackRest's repositories are encrypted with it: keep it with the backups' owners,
                # apart from the backups (a lost one makes every physical backup unreadable).
                ("PGBACKREST_CIPHER_PASS", generate_secret()),
                (
                    "DATABASE_URL",
                    f"postgresql://neurmatic_prod:{postgres_password}@{DATABASE_HOSTS}"
                    "/neurmatic_production?target_session_attrs=read-write",
                ),
                (
                    "DATABASE_REPLICA_URL",
                    f"postgresql://neurmatic_prod:{postgres_password}@{DATABASE_HOSTS}"
                    "/neurmatic_production?target_session_attrs=prefer-standby",
                ),
                ("NEURMATIC_PATRONI_URLS", "http://postgres-1:8008,http://postgres-2:8008"),
                # The PostgreSQL exporters' role `metrics` (pg_monitor only).
                ("METRICS_DB_PASSWORD", generate_secret()),
            ],
        ),
        (
            "Redis",
            [
                ("REDIS_PASSWORD", redis_password),
                ("REDIS_URL", f"redis://:{redis_password}@redis-master:6379/0"),
                ("REDIS_SENTINELS", "sentinel-1:26379,sentinel-2:26379,sentinel-3:26379"),
                ("REDIS_SENTINEL_MASTER", "mymaster"),
                ("REDIS_SENTINEL_PASSWORD", generate_secret()),
                # The Redis exporter's ACL user `metrics` on the servers and Sentinels (read-only commands).
                ("METRICS_REDIS_PASSWORD", generate_secret()),
            ],
        ),
        (
            "Monitoring",
            [
                # Grafana's `admin` (127.0.0.1:3000 on the host). Alertmanager's Slack receiver posts to
                # SLACK_WEBHOOK_URL, its email goes through SendGrid's SMTP relay with SENDGRID_API_KEY.
                ("GRAFANA_ADMIN_PASSWORD", generate_secret()),
                ("SLACK_WEBHOOK_URL", ""),
            ],
        ),
        (
            "JWT",
            [
                ("JWT_SECRET", generate_secret()),
                ("JWT_REFRESH_SECRET", generate_secret()),
                ("JWT_EXPIRES_IN", "15m"),
                ("REFRESH_TOKEN_EXPIRES_IN", "30d"),
            ],
        ),
        ("Session", [("SESSION_SECRET", generate_secret()), ("BCRYPT_ROUNDS", "12")]),
        *[
            (
                f"OAuth - {label}",
                [
                    (f"{key}_CLIENT_ID", ""),
                    (f"{key}_CLIENT_SECRET", ""),
                    (f"{key}_CALLBACK_URL", f"{api_url}/api/v1/auth/oauth/{key.lower()}/callback"),
                ],
            )
            for label, key in (("Google", "GOOGLE"), ("LinkedIn", "LINKEDIN"), ("GitHub", "GITHUB"))
        ],
        (
            "Email",
            [
                ("SENDGRID_API_KEY", ""),
                ("FROM_EMAIL", "noreply@neurmatic.com"),
                ("SUPPORT_EMAIL", "support@neurmatic.com"),
            ],
        ),
        (
            "AWS S3",
            [
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", ""),
                ("AWS_S3_BUCKET", "neurmatic-production-media"),
                ("AWS_BACKUP_BUCKET", "neurmatic-backups"),
                ("AWS_REGION", "eu-west-1"),
            ],
        ),
        (
            "Sentry",
            [
                ("SENTRY_DSN", ""),
                ("SENTRY_ENVIRONMENT", "production"),
                ("SENTRY_TRACES_SAMPLE_RATE", "0.1"),
                ("SENTRY_PROFILES_SAMPLE_RATE", "0.1"),
            ],
        ),
        ("Rate limiting", [("RATE_LIMIT_WINDOW_MS", "900000"), ("RATE_LIMIT_MAX_REQUESTS", "100")]),
        ("Logging", [("LOG_LEVEL", "warn")]),
    ]
    lines = ["# Generated by `neurmatic secrets generate`. Secret: mode 0600, never commit it.", ""]
    for title, entries in sections:
        lines.append(f"# {title}")
        lines += [f"{key}={value}" for key, value in entries]
        lines.append("")
    return "\n".join(lines)
