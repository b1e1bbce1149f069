"""The nginx config of the local topology and of production, from one template (``nginx.conf.j2``).

:class:`NginxContext` holds every value the template reads; the two builders say how production and
the local topology differ. Rendering is pure: nothing here touches the file system.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from neurmatic.errors import ConfigurationError
from neurmatic.render import render_template

# A value pasted into the config must not be able to end a directive or open a block.
_UNSAFE = re.compile(r"[;{}\s'\"]")
_MULTI_WORD = {"server_name", "resolver"}  # these hold several space-separated words

PRODUCTION_SSL_DIR = Path("/etc/nginx/ssl/production")


@dataclass(frozen=True)
class NginxContext:
    """Every value ``nginx.conf.j2`` needs. Paths are absolute; listen values are ``[addr:]port``."""

    worker_processes: str
    worker_connections: int
    pid_path: Path
    error_log: Path
    access_log: Path
    mime_types: Path
    temp_dir: Path
    cache_dir: Path
    listen_http: str
    listen_https: str
    https_redirect_port: int
    server_name: str
    upstreams: tuple[str, ...]
    ssl_certificate: Path
    ssl_certificate_key: Path
    user: str | None = None
    ssl_trusted_certificate: Path | None = None  # set (with resolver) to turn on OCSP stapling
    resolver: str | None = None
    real_ip_from: tuple[str, ...] = ()
    acme_webroot: Path | None = None
    # `http2 on;` needs nginx >= 1.25.1; older nginx (Debian bookworm has 1.22) wants `listen ... http2`.
    http2_directive: bool = False

    def __post_init__(self) -> None:
        if not self.upstreams:
            raise ConfigurationError("nginx needs at least one upstream", hint="pass the API addresses")
        if self.ssl_trusted_certificate is not None and not self.resolver:
            raise ConfigurationError(
                "OCSP stapling needs a resolver", hint="set resolver with ssl_trusted_certificate"
            )
        for cidr in self.real_ip_from:
            try:
                ipaddress.ip_network(cidr)
            except ValueError as exc:
                raise ConfigurationError(f"real_ip_from: {cidr!r} is not an address or CIDR") from exc
        for field in dataclasses.fields(self):
            _check_safe(field.name, getattr(self, field.name))

    def directories(self) -> tuple[Path, ...]:
        """Directories that must exist before nginx starts (it creates temp and cache dirs itself,
        but not the parents of its pid file and logs)."""
        return (
            self.pid_path.parent,
            self.error_log.parent,
            self.access_log.parent,
            self.temp_dir,
            self.cache_dir,
        )


def _check_safe(name: str, value: object) -> None:
    """Refuse a value that could end a directive or open a block once pasted into the config."""
    values = value if isinstance(value, tuple) else (value,)
    for item in values:
        if not isinstance(item, str | Path):
            continue
        words = str(item).split(" ") if name in _MULTI_WORD else [str(item)]
        if any(not word or _UNSAFE.search(word) for word in words):
            raise ConfigurationError(f"nginx {name} {str(item)!r} contains a space, quote, ';' or brace")


def render_nginx(ctx: NginxContext) -> str:
    """Render ``nginx.conf`` for ``ctx``."""
    values = {field.name: getattr(ctx, field.name) for field in dataclasses.fields(ctx)}
    return render_template("nginx.conf.j2", **values)


def production_nginx_context(*, real_ip_from: Sequence[str] = ()) -> NginxContext:
    """The production edge: the official nginx image behind ``docker-compose.production.yml``.

    ``real_ip_from`` lists the trusted proxies in front of nginx (e.g. a CDN's ranges), if any.
    """
    return NginxContext(
        user="nginx",
        worker_processes="auto",
        worker_connections=4096,
        pid_path=Path("/run/nginx.pid"),
        error_log=Path("/var/log/nginx/error.log"),
        access_log=Path("/var/log/nginx/access.log"),
        mime_types=Path("/etc/nginx/mime.types"),
        temp_dir=Path("/var/cache/nginx"),  # nginx makes only the last path part: this one exists
        cache_dir=Path("/var/cache/nginx/api"),
        listen_http="80",
        listen_https="443",
        https_redirect_port=443,
        server_name="api.neurmatic.com",
        upstreams=("backend-1:3000", "backend-2:3000"),
        ssl_certificate=PRODUCTION_SSL_DIR / "fullchain.pem",
        ssl_certificate_key=PRODUCTION_SSL_DIR / "privkey.pem",
        ssl_trusted_certificate=PRODUCTION_SSL_DIR / "chain.pem",
        resolver="127.0.0.11 valid=30s",  # Docker's embedded DNS
        real_ip_from=tuple(real_ip_from),
        acme_webroot=Path("/var/www/certbot"),
    )


def local_nginx_context(
    *,
    state_dir: Path,
    https_port: int,
    http_port: int,
    upstreams: list[str],
    cert: Path,
    key: Path,
    mime_types: Path = Path("/etc/nginx/mime.types"),
    http2_directive: bool = False,
) -> NginxContext:
    """The local topology's edge: everything under ``state_dir/nginx``, loopback only, no root needed."""
    root = state_dir / "nginx"
    return NginxContext(
        worker_processes="2",
        worker_connections=1024,
        pid_path=root / "nginx.pid",
        error_log=root / "logs" / "error.log",
        access_log=root / "logs" / "access.log",
        mime_types=mime_types,
        temp_dir=root / "tmp",
        cache_dir=root / "cache" / "api",
        listen_http=f"127.0.0.1:{http_port}",
        listen_https=f"127.0.0.1:{https_port}",
        https_redirect_port=https_port,
        server_name="localhost",
        upstreams=tuple(upstreams),
        ssl_certificate=cert,
        ssl_certificate_key=key,
        http2_directive=http2_directive,
    )
