"""Alertmanager's configuration: critical alerts to Slack and email, warnings to Slack, grouped by alert
and instance, with inhibitions. Secrets live in files next to it, never in it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from neurmatic.render import render_template

PRODUCTION_SECRETS_DIR = "/etc/alertmanager/secrets"


@dataclass(frozen=True)
class AlertmanagerConfig:
    secrets_dir: str  # holds slack_webhook_url (and smtp_password when smtp_username is set)
    smtp_smarthost: str  # host:port
    smtp_username: str | None
    smtp_require_tls: bool
    email_from: str
    email_to: str
    slack: bool = True  # False: no webhook configured (a local topology without SLACK_WEBHOOK_URL)


# SendGrid's SMTP relay (user `apikey`, the password is SENDGRID_API_KEY); the guide's addresses.
PRODUCTION = AlertmanagerConfig(
    secrets_dir=PRODUCTION_SECRETS_DIR,
    smtp_smarthost="smtp.sendgrid.net:587",
    smtp_username="apikey",
    smtp_require_tls=True,
    email_from="noreply@neurmatic.com",
    email_to="support@neurmatic.com",
)


def render_alertmanager(config: AlertmanagerConfig = PRODUCTION) -> str:
    return render_template("alertmanager/alertmanager.yml.j2", **asdict(config))
