"""Monitoring of the local topology: Prometheus, Alertmanager and the exporters (Debian's packages).

Their configs are rendered from the templates production uses (``render/monitoring.py``, the rules and
Alertmanager's routes from ``render/alerting``), with this topology's loopback ports. The exporters read
PostgreSQL and Redis with accounts of their own (``metrics``: ``pg_monitor`` in PostgreSQL, an ACL user
allowed only the read-only commands the exporter sends in Redis and Sentinel), never the application's.
Alertmanager's email goes to the topology's mail catcher; Slack only when ``SLACK_WEBHOOK_URL`` is set
at ``up``.
"""

from __future__ import annotations

import os
from pathlib import Path

from neurmatic.adapters.commands import require_binary
from neurmatic.adapters.probes import http_status
from neurmatic.supervisor.layout import DATABASE_NAME, HOST, METRICS_USER, MONITORING_USER
from neurmatic.supervisor.service import Service
from neurmatic.supervisor.services.monitoring_access import (
    local_prometheus_config,
    monitoring_password_file,
    redis_targets,
)
from neurmatic.supervisor.state import TopologyState

LOCAL_ALERT_RECIPIENT = "operators@localhost"
SLACK_WEBHOOK_ENV = "SLACK_WEBHOOK_URL"


def _binary(name: str, package: str) -> str:
    return str(require_binary(name, package=package))


class _HttpServer(Service):
    """A monitoring server on one loopback port, ready when ``GET ready_path`` answers 200."""

    restartable = True  # nothing is lost: Prometheus and Alertmanager keep their data on disk
    ready_timeout = 60.0
    ready_path = "/metrics"
    role_name = "monitoring"
    # Prometheus and Alertmanager take commands (silences, quit, admin): only with the operators' password.
    web_protected = False

    @property
    def port(self) -> int:
        raise NotImplementedError

    def probe(self) -> bool:
        auth = (MONITORING_USER, self.state.secrets["MONITORING_PASSWORD"]) if self.web_protected else None
        return http_status(HOST, self.port, self.ready_path, basic_auth=auth) == 200

    def write_web_config(self) -> Path:
        """The ``--web.config.file`` with the operators' user, and the password file Prometheus sends.
        Rendered at every start: the hash follows MONITORING_PASSWORD of secrets.env."""
        from neurmatic.private_files import write_private_file
        from neurmatic.render.monitoring import web_config

        self.paths.monitoring.mkdir(exist_ok=True)
        password = self.state.secrets["MONITORING_PASSWORD"]
        write_private_file(monitoring_password_file(self.state), password, self.state.account)
        path = self.paths.monitoring / f"{self.name}-web.yml"
        write_private_file(path, web_config(MONITORING_USER, password), self.state.account)
        return path

    def role(self) -> str:
        return self.role_name


class Prometheus(_HttpServer):
    name = "prometheus"
    ready_path = "/-/ready"
    stop_grace = 30.0  # it writes its head block to disk on the way out
    web_protected = True

    @property
    def port(self) -> int:
        return self.state.ports.prometheus

    @property
    def directory(self) -> Path:
        return self.paths.monitoring / "prometheus"

    def prepare(self) -> None:
        """Render prometheus.yml and the rules (every start: a changed rule applies on restart)."""
        from neurmatic.render.alerting import prometheus_rules
        from neurmatic.render.monitoring import render_prometheus

        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.write_web_config()
        (self.directory / "rules.yml").write_text(prometheus_rules())
        (self.directory / "prometheus.yml").write_text(render_prometheus(local_prometheus_config(self.state)))
        self.state.account.own(self.paths.monitoring)

    def reload(self) -> None:
        """Re-render the config for the current instances and have a running Prometheus load it (after
        `scale`: a removed instance must not page as down, a new one must be watched). SIGHUP, not the
        web API's /-/reload: that endpoint would let anyone who reaches the port stop Prometheus too."""
        import signal

        self.prepare()
        pid = self.running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)

    def command(self) -> list[str]:
        from neurmatic.render.monitoring import PROMETHEUS_RETENTION_SIZE, PROMETHEUS_RETENTION_TIME

        return [
            _binary("prometheus", "prometheus"),
            f"--config.file={self.directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.directory / 'data'}",
            f"--storage.tsdb.retention.time={PROMETHEUS_RETENTION_TIME}",
            f"--storage.tsdb.retention.size={PROMETHEUS_RETENTION_SIZE}",
            f"--web.listen-address={HOST}:{self.port}",
            f"--web.config.file={self.paths.monitoring / f'{self.name}-web.yml'}",
        ]


class Alertmanager(_HttpServer):
    name = "alertmanager"
    ready_path = "/-/ready"
    web_protected = True

    @property
    def port(self) -> int:
        return self.state.ports.alertmanager

    @property
    def directory(self) -> Path:
        return self.paths.monitoring / "alertmanager"

    def prepare(self) -> None:
        from neurmatic.private_files import write_private_file
        from neurmatic.render.alerting.alertmanager import AlertmanagerConfig, render_alertmanager

        secrets = self.directory / "secrets"
        for directory in (self.directory / "data", secrets):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        webhook = os.environ.get(SLACK_WEBHOOK_ENV) or _recorded_webhook(secrets)
        if webhook:
            write_private_file(secrets / "slack_webhook_url", webhook + "\n", self.state.account)
        config = AlertmanagerConfig(
            secrets_dir=str(secrets),
            smtp_smarthost=f"{HOST}:{self.state.ports.mail}",
            smtp_username=None,
            smtp_require_tls=False,
            email_from="alertmanager@localhost",
            email_to=LOCAL_ALERT_RECIPIENT,
            slack=bool(webhook),
        )
        write_private_file(
            self.directory / "alertmanager.yml", render_alertmanager(config), self.state.account
        )
        self.write_web_config()
        self.state.account.own(self.directory)

    def command(self) -> list[str]:
        return [
            _binary("prometheus-alertmanager", "prometheus-alertmanager"),
            f"--config.file={self.directory / 'alertmanager.yml'}",
            f"--storage.path={self.directory / 'data'}",
            f"--web.listen-address={HOST}:{self.port}",
            f"--web.config.file={self.paths.monitoring / f'{self.name}-web.yml'}",
            "--cluster.listen-address=",  # one Alertmanager: no gossip port
        ]


def _recorded_webhook(secrets: Path) -> str | None:
    try:
        return (secrets / "slack_webhook_url").read_text().strip() or None
    except FileNotFoundError:
        return None


class NodeExporter(_HttpServer):
    name = "node-exporter"

    @property
    def port(self) -> int:
        return self.state.ports.node_exporter

    def command(self) -> list[str]:
        from neurmatic.render.monitoring import NODE_EXPORTER_COLLECTORS

        return [
            _binary("prometheus-node-exporter", "prometheus-node-exporter"),
            f"--web.listen-address={HOST}:{self.port}",
            "--collector.disable-defaults",  # only what the rules read
            *(f"--collector.{name}" for name in NODE_EXPORTER_COLLECTORS),
        ]


class PostgresExporter(_HttpServer):
    def __init__(self, state: TopologyState, index: int) -> None:
        self.index = index
        self.name = f"postgres-exporter-{index}"
        super().__init__(state)

    @property
    def port(self) -> int:
        return self.state.ports.postgres_exporter(self.index)

    def environment(self) -> dict[str, str]:
        from urllib.parse import quote

        password = quote(self.state.secrets["METRICS_DB_PASSWORD"], safe="")
        node = f"{HOST}:{self.state.ports.postgres(self.index)}"
        # In the environment, never the argv (`ps` shows argv to every user).
        dsn = f"postgresql://{METRICS_USER}:{password}@{node}/{DATABASE_NAME}?sslmode=disable"
        return {**super().environment(), "DATA_SOURCE_NAME": dsn}

    def command(self) -> list[str]:
        return [
            _binary("prometheus-postgres-exporter", "prometheus-postgres-exporter"),
            f"--web.listen-address={HOST}:{self.port}",
        ]


class RedisExporter(_HttpServer):
    name = "redis-exporter"

    @property
    def port(self) -> int:
        return self.state.ports.redis_exporter

    @property
    def password_file(self) -> Path:
        return self.paths.monitoring / "redis-exporter-passwords.json"

    def prepare(self) -> None:
        """The password of each known server, by target URL: anyone may ask the exporter to scrape any
        address (``/scrape?target=``), and a default password would be sent to whatever answers there."""
        import json

        from neurmatic.private_files import write_private_file

        password = self.state.secrets["METRICS_REDIS_PASSWORD"]
        targets = dict.fromkeys(redis_targets(self.state), password)
        self.paths.monitoring.mkdir(exist_ok=True)
        write_private_file(self.password_file, json.dumps(targets, indent=2) + "\n", self.state.account)

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "REDIS_USER": METRICS_USER}

    def command(self) -> list[str]:
        from neurmatic.render.redis_acl import NO_CONFIG_COMMAND

        # No default target (-redis.addr ""): Prometheus names each server in /scrape?target=.
        return [
            _binary("prometheus-redis-exporter", "prometheus-redis-exporter"),
            f"-web.listen-address={HOST}:{self.port}",
            "-redis.addr=",
            f"-redis.password-file={self.password_file}",
            NO_CONFIG_COMMAND,
        ]


class NginxExporter(_HttpServer):
    name = "nginx-exporter"

    @property
    def port(self) -> int:
        return self.state.ports.nginx_exporter

    def command(self) -> list[str]:
        return [
            _binary("prometheus-nginx-exporter", "prometheus-nginx-exporter"),
            f"-web.listen-address={HOST}:{self.port}",
            f"-nginx.scrape-uri=http://{HOST}:{self.state.ports.nginx_status}/stub_status",
        ]


class BlackboxExporter(_HttpServer):
    name = "blackbox-exporter"

    @property
    def port(self) -> int:
        return self.state.ports.blackbox_exporter

    @property
    def config(self) -> Path:
        return self.paths.monitoring / "blackbox.yml"

    def prepare(self) -> None:
        from neurmatic.render.monitoring import render_blackbox

        self.paths.monitoring.mkdir(exist_ok=True)
        self.config.write_text(render_blackbox(str(self.paths.tls / "ca.pem")))
        self.state.account.own(self.paths.monitoring)

    def command(self) -> list[str]:
        return [
            _binary("prometheus-blackbox-exporter", "prometheus-blackbox-exporter"),
            f"--config.file={self.config}",
            f"--web.listen-address={HOST}:{self.port}",
        ]


def monitoring_services(state: TopologyState) -> list[Service]:
    """In start order: the exporters, Alertmanager, then Prometheus (which sends to Alertmanager)."""
    return [
        NodeExporter(state),
        *(PostgresExporter(state, i) for i in (1, 2)),
        RedisExporter(state),
        NginxExporter(state),
        BlackboxExporter(state),
        Alertmanager(state),
        Prometheus(state),
    ]
