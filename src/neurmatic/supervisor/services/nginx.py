"""nginx, the load balancer in front of the API instances (rendered from the production template)."""

from __future__ import annotations

import signal
import ssl

import httpx

from neurmatic.adapters.nginx import check_config, find_nginx
from neurmatic.render.nginx import local_nginx_context, render_nginx
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.service import Service
from neurmatic.supervisor.state import TopologyState
from neurmatic.supervisor.tls import ensure_certificates


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

    def prepare(self) -> None:
        """Render the config for the current set of API instances and check it with ``nginx -t``."""
        _, cert, key = ensure_certificates(self.paths.tls, self.state.account)
        context = local_nginx_context(
            state_dir=self.paths.root,
            https_port=self.state.ports.https,
            http_port=self.state.ports.http,
            upstreams=self.upstreams(),
            cert=cert,
            key=key,
        )
        for directory in (self.paths.nginx / "cache", self.paths.nginx / "tmp", self.paths.nginx / "logs"):
            directory.mkdir(parents=True, exist_ok=True)
        self.config.write_text(render_nginx(context))
        self.state.account.own(self.paths.nginx)
        check_config(self.config, prefix=self.paths.nginx)
        self.state.account.own(self.paths.nginx)

    def command(self) -> list[str]:
        return [str(find_nginx()), "-p", str(self.paths.nginx), "-c", str(self.config), "-g", "daemon off;"]

    def start(self) -> int:
        from neurmatic.supervisor.service import check_port_free

        check_port_free(self.state.ports.http, self.name)
        return super().start()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.paths.tls / "ca.pem"))

    def probe(self) -> bool:
        response = httpx.get(
            f"https://{HOST}:{self.port}/api/v1/health/live", verify=self.ssl_context(), timeout=3
        )
        return response.status_code == 200

    def role(self) -> str:
        return "lb"

    def reload(self) -> None:
        """Re-render and gracefully reload: new workers take the new upstream, old ones finish first."""
        self.prepare()
        pid = self.running_pid()
        if pid is not None:
            import os

            os.kill(pid, signal.SIGHUP)
