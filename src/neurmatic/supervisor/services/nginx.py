"""nginx, the load balancer in front of the API instances (rendered from the production template)."""

from __future__ import annotations

import os
import signal
import ssl
from pathlib import Path

from neurmatic.adapters.nginx import check_config, find_nginx
from neurmatic.adapters.probes import http_status
from neurmatic.polling import poll
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.process import is_running, reap_children
from neurmatic.supervisor.service import Service
from neurmatic.supervisor.state import TopologyState


class NginxBalancer(Service):
    name = "nginx"
    stop_signal = signal.SIGQUIT  # graceful: finish the requests in flight
    stop_grace = 15.0
    ready_timeout = 30.0

    def __init__(self, state: TopologyState, api_indexes: list[int]) -> None:
        super().__init__(state)
        self.api_indexes = api_indexes
        self.config = self.paths.nginx / "nginx.conf"

    @property
    def port(self) -> int:
        return self.state.ports.https

    def upstreams(self) -> list[str]:
        return [f"{HOST}:{self.state.ports.api(i)}" for i in self.api_indexes]

    def _render(self) -> str:
        # Jinja2 and cryptography: imported to render, not to probe (`neurmatic status`).
        from neurmatic.render.nginx import local_nginx_context, render_nginx
        from neurmatic.supervisor.tls import ensure_certificates

        _, cert, key = ensure_certificates(self.paths.tls, self.state.account)
        context = local_nginx_context(
            state_dir=self.paths.root,
            https_port=self.state.ports.https,
            http_port=self.state.ports.http,
            upstreams=self.upstreams(),
            cert=cert,
            key=key,
            status_port=self.state.ports.nginx_status,
            # The web client when `up` installed it (web_client.install), else the API alone.
            web_root=self.paths.web if (self.paths.web / "index.html").is_file() else None,
        )
        return render_nginx(context)

    def prepare(self) -> None:
        """Render the config for the current set of API instances and check it with ``nginx -t``."""
        text = self._render()
        for directory in (self.paths.nginx / "cache", self.paths.nginx / "tmp", self.paths.nginx / "logs"):
            directory.mkdir(parents=True, exist_ok=True)
        self.config.write_text(text)
        self.state.account.own(self.paths.nginx)
        check_config(self.config, prefix=self.paths.nginx, user=self.state.account.name)
        self.state.account.own(self.paths.nginx)

    def log_files(self) -> list[Path]:
        """Its captured output (start-up errors), then its own error and access logs (the template's
        ``error_log`` and ``access_log``, under ``nginx/logs/``)."""
        own = self.paths.nginx / "logs"
        return [*super().log_files(), own / "error.log", own / "access.log"]

    def command(self) -> list[str]:
        return [str(find_nginx()), "-p", str(self.paths.nginx), "-c", str(self.config), "-g", "daemon off;"]

    def start(self) -> int:
        from neurmatic.supervisor.service import check_port_free

        check_port_free(self.state.ports.http, self.name)
        check_port_free(self.state.ports.nginx_status, self.name)
        return super().start()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.paths.tls / "ca.pem"))

    def probe(self) -> bool:
        return http_status(HOST, self.port, "/api/v1/health/live", tls=self.ssl_context()) == 200

    def role(self) -> str:
        return "lb"

    def reload(self) -> None:
        """Re-render and gracefully reload: new workers take the new upstream, old ones finish first.

        Only the config file is replaced (atomically, checked first): the cache and temp directories
        are in use by the running workers and are left exactly as they are.
        """
        if self.running_pid() is None:
            self.prepare()
            return
        candidate = self.config.with_name(f".{self.config.name}.new")
        candidate.write_text(self._render())
        self.state.account.own(candidate)
        try:
            check_config(candidate, prefix=self.paths.nginx, user=self.state.account.name)
        except BaseException:
            candidate.unlink(missing_ok=True)
            raise
        candidate.replace(self.config)
        pid = self.running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)

    def worker_pids(self) -> set[int]:
        """The master's children (workers, cache manager and loader) now."""
        pid = self.running_pid()
        if pid is None:
            return set()
        import psutil

        try:
            return {child.pid for child in psutil.Process(pid).children()}
        except psutil.Error:
            return set()

    def reload_settled(self, timeout: float) -> bool:
        """Reload, then wait until every process of the previous config has exited, i.e. finished the
        requests it had in flight. False when some are still busy at ``timeout`` (a WebSocket, say)."""
        old = self.worker_pids()
        self.reload()

        def settled() -> bool:
            reap_children()
            return not any(is_running(pid) for pid in old) and bool(self.worker_pids() - old)

        return poll(settled, timeout=timeout, interval=0.05, catch=()).done
