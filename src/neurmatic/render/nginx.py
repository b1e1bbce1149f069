"""The nginx config of the local topology and of production, from one template (``nginx.conf.j2``).

:class:`NginxContext` holds every value the template reads; the two builders say how production and
the local topology differ. Rendering is pure: nothing here touches the file system.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from neurmatic.edge_policy import MAX_URI_BYTES, MICROCACHE_SECONDS
from neurmatic.error_codes import error_code_for_status
from neurmatic.errors import ConfigurationError
from neurmatic.render import render_template
from neurmatic.render.compose import NETWORK_SUBNET, NGINX_STATUS_PORT

# A value pasted into the config must not be able to end a directive or open a block.
_UNSAFE = re.compile(r"[;{}\s'\"]")
_MULTI_WORD = {"server_name", "resolver"}  # these hold several space-separated words

PRODUCTION_SSL_DIR = Path("/etc/nginx/ssl/production")
PRODUCTION_WEB_ROOT = Path("/usr/share/nginx/html")  # compose mounts frontend/dist here
BROTLI_MODULE = "ngx_http_brotli_filter_module.so"

# The upstream's response header must fit in proxy_buffer_size *together with* the cache key (scheme,
# host, request URI) that nginx writes in front of it when the response may be cached: "upstream sent
# too big header" counts against max_fails, so a long query string took a backend out of the upstream.
# MAX_URI_BYTES of URI + MAX_HOST_BYTES of host + the app's own headers (a redirect's Location can
# repeat the URI) stay well inside 32 KiB.
MAX_HOST_BYTES = 255
PROXY_BUFFER_SIZE = "32k"
# nginx parses request lines and header fields up to this size. Over HTTP/2 a field larger than the
# buffer closes the whole connection (GOAWAY ENHANCE_YOUR_CALM, hard-coded in nginx), so the buffer is
# made larger than MAX_URI_BYTES: a long URI then reaches our own 414 instead.
CLIENT_HEADER_BUFFERS = "4 32k"
# How long nginx waits for an instance's answer before it gives up on it (and retries an idempotent
# request on the other one): a frozen instance must not hold requests for a minute. Uploads wait longer.
UPSTREAM_TIMEOUT = "5s"
UPLOAD_TIMEOUT = "60s"
# An open WebSocket may idle this long (the rate limit applies to its handshake only).
WEBSOCKET_TIMEOUT = "1h"
# Sign-in and registration hash a password with bcrypt (a quarter of a second of CPU by design). Under a
# burst of sign-ins on a busy host one took longer than UPSTREAM_TIMEOUT, and with max_fails=1 that timeout
# took the instance out of the upstream: in the 1,000-user load test a few slow sign-ins left nginx with
# "no live upstreams" for every request (502s). A frozen instance is still found by the other locations.
SIGN_IN_TIMEOUT = "30s"
# The largest request body the edge accepts (uploads are the largest); bigger ones get a 413.
CLIENT_MAX_BODY_SIZE = "50M"


@dataclass(frozen=True)
class RateZone:
    """A ``limit_req_zone`` and the ``Retry-After`` its 429 carries (the time one request slot takes)."""

    name: str
    per_second: float
    burst: int
    key: str = "$binary_remote_addr"

    @property
    def rate(self) -> str:
        return f"{round(self.per_second)}r/s" if self.per_second >= 1 else f"{round(self.per_second * 60)}r/m"

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(1 / self.per_second))


RATE_ZONES = {
    zone.name: zone
    for zone in (
        RateZone("api", 10, burst=20),
        # Every sign-in (API, 2FA challenge, the admin form). Keyed by $signin_limit_key, which is empty for
        # GET/HEAD: showing the admin sign-in form is not an attempt.
        RateZone("signin", 5 / 60, burst=5, key="$signin_limit_key"),
        RateZone("register", 3 / 60, burst=3),
    )
}


@dataclass(frozen=True)
class EdgeError:
    """An answer nginx gives itself, in the API's error body with the API's code for its status."""

    name: str  # the named location
    statuses: str  # what error_page catches
    status: int  # the status sent (error_page "=status" when it differs from what was caught)
    message: str
    rewrite: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    # nginx raises these while it still parses the request, when it has no URI yet, and a redirect to a
    # *named* location then fails ("empty URI in redirect to named location": an HTML 500). They go to
    # an internal URI instead (which re-runs the server's rewrite phase, harmless for them).
    while_parsing: bool = False

    @property
    def code(self) -> str:
        return error_code_for_status(self.status)

    @property
    def target(self) -> str:
        return f"{EDGE_ERROR_PREFIX}{self.name}" if self.while_parsing else f"@{self.name}"

    @property
    def body(self) -> str:
        return json.dumps(
            {"success": False, "error": {"code": self.code, "message": self.message, "details": None}},
            separators=(",", ":"),
        )


# nginx answers TRACE (and any method it cannot parse) itself; every method the API serves anywhere.
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

EDGE_ERROR_PREFIX = "/_edge/"

EDGE_ERRORS = (
    EdgeError("bad_request", "400", 400, "Bad request", while_parsing=True),
    EdgeError("header_too_large", "494", 400, "Request header too large", rewrite=True, while_parsing=True),
    # Only nginx's own 404s (an internal location asked for directly): the app's pass through untouched.
    EdgeError("not_found", "404", 404, "Not Found"),
    EdgeError("method_not_allowed", "405", 405, "Method not allowed", headers=(("Allow", ALLOWED_METHODS),)),
    EdgeError("request_too_large", "413", 413, "Request body too large"),
    EdgeError(
        "uri_too_long",
        "414",
        414,
        f"Request URI too long (at most {MAX_URI_BYTES} bytes)",
        while_parsing=True,
    ),
    EdgeError(
        "rate_limited", "429", 429, "Too many requests", headers=(("Retry-After", "$edge_retry_after"),)
    ),
    EdgeError("edge_error", "500", 500, "An unexpected error occurred"),
    EdgeError("not_implemented", "501", 501, "Transfer-Encoding not supported", while_parsing=True),
    EdgeError("version_not_supported", "505", 505, "HTTP version not supported", while_parsing=True),
    # Not an nginx status: the body of the edge's own refusal of raw non-ASCII bytes in a URI.
    EdgeError("uri_not_ascii", "", 400, "Request URI must be ASCII (percent-encode other bytes)"),
    # error_page without "=" keeps the original status: 502 stays 502, 504 stays 504.
    EdgeError("unavailable", "502 503 504", 503, "No backend is available", headers=(("Retry-After", "2"),)),
)


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
    # The internal stub_status listener the nginx exporter reads, and who may read it (None: no listener).
    listen_status: str | None = None
    status_allow: tuple[str, ...] = ("127.0.0.1",)
    # The web client's build (frontend/dist): served at / with the API under /api/ (None: the API only).
    web_root: Path | None = None
    # Dynamic modules to load (absolute .so paths), and whether brotli's filter is among them.
    load_modules: tuple[Path, ...] = ()
    brotli: bool = False

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


EDGE_ERRORS_BY_NAME = {error.name: error for error in EDGE_ERRORS}


def render_nginx(ctx: NginxContext) -> str:
    """Render ``nginx.conf`` for ``ctx``."""
    values = {field.name: getattr(ctx, field.name) for field in dataclasses.fields(ctx)}
    return render_template(
        "nginx.conf.j2",
        **values,
        edge_errors=EDGE_ERRORS,
        edge_error=EDGE_ERRORS_BY_NAME,
        rate_zones=RATE_ZONES,
        max_uri_bytes=MAX_URI_BYTES,
        microcache_seconds=MICROCACHE_SECONDS,
        max_host_bytes=MAX_HOST_BYTES,
        proxy_buffer_size=PROXY_BUFFER_SIZE,
        client_header_buffers=CLIENT_HEADER_BUFFERS,
        upstream_timeout=UPSTREAM_TIMEOUT,
        upload_timeout=UPLOAD_TIMEOUT,
        sign_in_timeout=SIGN_IN_TIMEOUT,
        client_max_body_size=CLIENT_MAX_BODY_SIZE,
        websocket_timeout=WEBSOCKET_TIMEOUT,
    )


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
        web_root=PRODUCTION_WEB_ROOT,
        # stub_status for the nginx exporter: a port compose never publishes, the compose network only.
        listen_status=str(NGINX_STATUS_PORT),
        status_allow=(NETWORK_SUBNET,),
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
    status_port: int | None = None,
    web_root: Path | None = None,
    modules_dir: Path = Path("/usr/lib/nginx/modules"),
) -> NginxContext:
    """The local topology's edge: everything under ``state_dir/nginx``, loopback only, no root needed.
    Brotli is on when nginx has the module (Debian's libnginx-mod-http-brotli-filter)."""
    root = state_dir / "nginx"
    brotli = modules_dir / BROTLI_MODULE
    return NginxContext(
        web_root=web_root,
        load_modules=(brotli,) if brotli.is_file() else (),
        brotli=brotli.is_file(),
        worker_processes="2",
        # The guide's 1,000 concurrent clients, each keeping its connection open between requests and each
        # request in flight holding an upstream one too, in whichever worker accepted it: with 1024, one of
        # the two workers reached ~800 descriptors at 1,000 users (./dev bench load); production's value.
        worker_connections=4096,
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
        listen_status=None if status_port is None else f"127.0.0.1:{status_port}",
    )
