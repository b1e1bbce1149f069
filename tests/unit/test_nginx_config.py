"""The nginx config, local and production renders, judged by nginx itself and by requests through it.

nginx itself judges the configs (`nginx -t`); the production render is tested inside a private mount
namespace where its absolute paths, its `nginx` user and its upstream host names exist.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from neurmatic.adapters.nginx import check_config, find_nginx
from neurmatic.errors import ConfigurationError, MissingBinaryError
from neurmatic.render.nginx import NginxContext, local_nginx_context, production_nginx_context, render_nginx
from tests.support import unavailable, wait_for_port

SECURITY_HEADERS = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Content-Security-Policy",
)


def _require(program: str, finder: Path | None) -> Path:
    """A missing program fails the run under CI (it must never pass by skipping) and skips elsewhere."""
    if finder is None:
        unavailable(f"{program} is not installed (apt-get install -y {program})")
    return finder


def _nginx() -> Path:
    try:
        return find_nginx()
    except MissingBinaryError:
        return _require("nginx", None)


def _write_tls_pair(directory: Path) -> tuple[Path, Path]:
    """A self-signed EC certificate for localhost and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _local_context(tmp_path: Path, *, http_port: int = 18080, https_port: int = 18443) -> NginxContext:
    cert, key = _write_tls_pair(tmp_path / "tls")
    return local_nginx_context(
        state_dir=tmp_path / "state",
        https_port=https_port,
        http_port=http_port,
        upstreams=["127.0.0.1:13001", "127.0.0.1:13002"],
        cert=cert,
        key=key,
    )


def _blocks(text: str, keyword: str) -> Iterator[tuple[str, str]]:
    """(header, body) of every `keyword ... { body }` block; braces inside quotes do not count."""
    for match in re.finditer(rf"^\s*{keyword}\b([^{{;]*)\{{", text, re.MULTILINE):
        depth, quote, index = 1, "", match.end()
        while depth:
            char = text[index]
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char in "{}":
                depth += 1 if char == "{" else -1
            index += 1
        yield match.group(1).strip(), text[match.end() : index - 1]


# --- the rendered text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["local", "production"])
def test_every_location_that_adds_a_header_adds_all_security_headers(tmp_path: Path, which: str) -> None:
    ctx = _local_context(tmp_path) if which == "local" else production_nginx_context()
    text = render_nginx(ctx)
    locations = dict(_blocks(text, "location"))
    signin = "~ ^/(?:api/v1/auth/(?:login|2fa/challenge)|admin/login)$"
    expected = {signin, "= /api/v1/auth/register", "= /api/v1/media", "/api/v1/ws", "/admin/", "/"}
    assert expected <= set(locations)
    for header, body in locations.items():
        if "add_header" in body:
            for name in SECURITY_HEADERS:
                assert re.search(rf"add_header {name} .* always;", body), f"{name} missing in {header}"
        # proxy_set_header is not inherited either once a location sets one: each needs the full set.
        if "proxy_pass" in body:
            assert "proxy_set_header X-Forwarded-Proto $scheme;" in body, header
            assert "proxy_set_header X-Request-ID $request_id;" in body, header
    for header, body in _blocks(text, "server"):
        if ctx.listen_status and f"listen {ctx.listen_status};" in body:
            continue  # the exporter's stub_status listener: no browser ever reads it
        for name in SECURITY_HEADERS:
            server_level = re.split(r"^\s*location\b", body, flags=re.MULTILINE)[0]
            assert f"add_header {name} " in server_level, f"{name} missing at server level {header}"


def test_limits_answer_429_and_cors_is_left_to_the_app(tmp_path: Path) -> None:
    text = render_nginx(_local_context(tmp_path))
    assert "limit_req_status 429;" in text
    assert "limit_conn_status 429;" in text
    assert "access-control-allow-origin" not in text.lower()
    # nginx retries POST/PATCH/DELETE on the other backend only when told `non_idempotent`: never.
    # The app's 503 (a shared dependency is down) is passed on, never counted against the instances.
    assert "proxy_next_upstream error timeout http_502 http_504;" in text
    assert "map $http_upgrade $connection_upgrade {\n        default upgrade;\n        ''      '';" in text


def test_redirects_keep_the_requested_host_and_the_https_port(tmp_path: Path) -> None:
    local = render_nginx(_local_context(tmp_path, https_port=18443))
    production = render_nginx(production_nginx_context())
    for text in (local, production):
        redirects = re.findall(r"return 301 (\S+);", text)
        assert redirects
        assert not any("$server_name" in target for target in redirects)
    assert "return 301 https://$host:18443$request_uri;" in local
    assert "return 301 https://$host$request_uri;" in production


def test_production_only_parts_stay_out_of_the_local_config(tmp_path: Path) -> None:
    local = render_nginx(_local_context(tmp_path))
    production = render_nginx(production_nginx_context(real_ip_from=["10.0.0.0/8"]))
    for part in ("user nginx;", "ssl_stapling on;", "acme-challenge", "set_real_ip_from 10.0.0.0/8;"):
        assert part in production
        assert part not in local
    assert "listen 127.0.0.1:18080 default_server;" in local


def test_the_api_keeps_idle_connections_longer_than_nginx_reuses_them(tmp_path: Path) -> None:
    """Otherwise nginx may send a request on a connection the API is closing: a POST is not retried."""
    from neurmatic.api.cli import KEEP_ALIVE_SECONDS

    for text in (render_nginx(_local_context(tmp_path)), render_nginx(production_nginx_context())):
        upstream = text[text.index("upstream backend_api") :]
        upstream = upstream[: upstream.index("}")]
        idle = re.search(r"keepalive_timeout (\d+)s;", upstream)
        assert idle is not None and int(idle.group(1)) < KEEP_ALIVE_SECONDS


@pytest.mark.parametrize(
    "change",
    [
        {"server_name": "api.example.com; include /etc/passwd"},
        {"upstreams": ("backend-1:3000 down",)},
        {"real_ip_from": ("not-a-network",)},
        {"resolver": None},
        {"upstreams": ()},
    ],
)
def test_context_refuses_values_that_would_break_the_config(change: dict[str, object]) -> None:
    base = production_nginx_context()
    values = {**{name: getattr(base, name) for name in base.__dataclass_fields__}, **change}
    with pytest.raises(ConfigurationError):
        NginxContext(**values)


# --- nginx -t ------------------------------------------------------------------------------------------


def test_local_config_passes_nginx_t(tmp_path: Path) -> None:
    nginx = _nginx()
    ctx = _local_context(tmp_path)
    for directory in ctx.directories():
        directory.mkdir(parents=True, exist_ok=True)
    conf = tmp_path / "state" / "nginx" / "nginx.conf"
    conf.write_text(render_nginx(ctx))
    check_config(conf, prefix=conf.parent, nginx=nginx)  # raises CommandError with nginx's message


def test_production_config_passes_nginx_t(tmp_path: Path) -> None:
    """In a private mount namespace: /etc/nginx, /var/log, /var/cache, /etc/hosts (backend-1/2) and
    /etc/passwd + /etc/group (user nginx) are temporary copies, as they would be in the image."""
    nginx = _nginx()
    unshare = _require("unshare", Path(found) if (found := shutil.which("unshare")) else None)
    if os.geteuid() != 0:
        unavailable("a private mount namespace needs root")
    if not Path("/etc/nginx").is_dir():
        _require("nginx (with /etc/nginx)", None)

    etc = tmp_path / "etc-nginx"
    ssl = etc / "ssl" / "production"
    cert, key = _write_tls_pair(ssl)
    shutil.copy(cert, ssl / "fullchain.pem")
    shutil.copy(cert, ssl / "chain.pem")
    shutil.copy(key, ssl / "privkey.pem")
    (etc / "mime.types").write_text("types {\n    application/json json;\n    text/html html;\n}\n")
    (tmp_path / "log" / "nginx").mkdir(parents=True)
    (tmp_path / "cache" / "nginx").mkdir(parents=True)  # the official image ships this directory
    (tmp_path / "hosts").write_text(Path("/etc/hosts").read_text() + "\n127.0.0.1 backend-1 backend-2\n")
    (tmp_path / "passwd").write_text(
        Path("/etc/passwd").read_text() + "nginx:x:64101:64101:nginx:/nonexistent:/usr/sbin/nologin\n"
    )
    (tmp_path / "group").write_text(Path("/etc/group").read_text() + "nginx:x:64101:\n")
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx(production_nginx_context(real_ip_from=["173.245.48.0/20"])))

    mounts = {
        tmp_path / "hosts": "/etc/hosts",
        tmp_path / "passwd": "/etc/passwd",
        tmp_path / "group": "/etc/group",
        etc: "/etc/nginx",
        tmp_path / "log": "/var/log",
        tmp_path / "cache": "/var/cache",
    }
    script = " && ".join(
        [
            *(f"mount --bind {shlex.quote(str(src))} {dst}" for src, dst in mounts.items()),
            f"exec {shlex.quote(str(nginx))} -t -e stderr -c {shlex.quote(str(conf))}",
        ]
    )
    result = subprocess.run(
        [str(unshare), "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "test is successful" in output


# --- the edge in action ---------------------------------------------------------------------------------


class _App(BaseHTTPRequestHandler):
    """Stands in for the API: echoes what nginx forwarded, and sets a header nginx must replace."""

    protocol_version = "HTTP/1.1"
    answered = 0

    def do_GET(self) -> None:
        type(self).answered += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {"proto": self.headers["X-Forwarded-Proto"], "request_id": self.headers["X-Request-ID"]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Frame-Options", "SAMEORIGIN")
        # Per-client headers, as the app's rate limit sends them: never to be replayed from the cache.
        self.send_header("X-RateLimit-Limit", "100")
        self.send_header("X-RateLimit-Remaining", str(100 - type(self).answered))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


WEB_INDEX = (
    '<!doctype html><div id="root"></div><script type="module" src="/assets/index-3f2a1b.js"></script>'
)
WEB_SCRIPT = "console.log('the web client');\n" * 100  # over gzip_min_length


@dataclass(frozen=True)
class Edge:
    http: str
    https: str
    https_port: int
    tls: ssl.SSLContext
    error_log: Path


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    """nginx with the local config in front of one stub API, on free loopback ports."""
    nginx = _nginx()
    app = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    Thread(target=app.serve_forever, daemon=True).start()
    http_port, https_port = _free_ports(2)
    cert, key = _write_tls_pair(tmp_path / "tls")
    web = tmp_path / "web"  # a web client's build, as `up` installs it
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text(WEB_INDEX)
    (web / "assets" / "index-3f2a1b.js").write_text(WEB_SCRIPT)
    ctx = local_nginx_context(
        state_dir=tmp_path / "state",
        https_port=https_port,
        http_port=http_port,
        upstreams=[f"127.0.0.1:{app.server_port}"],
        cert=cert,
        key=key,
        web_root=web,
    )
    for directory in ctx.directories():
        directory.mkdir(parents=True, exist_ok=True)
    conf = tmp_path / "state" / "nginx" / "nginx.conf"
    conf.write_text(render_nginx(ctx))
    # As root, workers would run as `nobody`, who cannot enter pytest's 0700 tmp dirs.
    globals_ = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    log = (tmp_path / "nginx.out").open("w")
    process = subprocess.Popen(
        [str(nginx), "-e", "stderr", "-p", str(conf.parent), "-c", str(conf), "-g", globals_],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(https_port, process, tmp_path / "nginx.out")
        yield Edge(
            f"http://127.0.0.1:{http_port}",
            f"https://127.0.0.1:{https_port}",
            https_port,
            ssl.create_default_context(cafile=str(cert)),
            ctx.error_log,
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        app.shutdown()


def _assert_security_headers(response: httpx.Response) -> None:
    for name in SECURITY_HEADERS:
        assert response.headers.get(name), f"{name} missing on {response.status_code} {response.url}"
    assert response.headers.get_list("X-Frame-Options") == ["DENY"]  # the app's SAMEORIGIN is hidden


def test_edge_proxies_caches_and_keeps_headers_on_every_answer(edge: Edge) -> None:
    with httpx.Client(verify=edge.tls) as client:
        first = client.get(f"{edge.https}/api/v1/categories")
        assert first.status_code == 200
        _assert_security_headers(first)
        assert first.json() == {"proto": "https", "request_id": first.headers["X-Request-ID"]}
        assert first.headers["X-Cache-Status"] == "MISS"
        assert client.get(f"{edge.https}/api/v1/categories").headers["X-Cache-Status"] == "HIT"
        # The app caches articles itself: nginx neither keeps them nor locks on them.
        for _ in range(2):
            assert client.get(f"{edge.https}/api/v1/articles").headers["X-Cache-Status"] == "BYPASS"
        private = client.get(f"{edge.https}/api/v1/articles", headers={"Authorization": "Bearer t"})
        assert private.headers["X-Cache-Status"] == "BYPASS"

        redirect = client.get(f"{edge.http}/api/v1/articles?page=2", headers={"Host": "api.example.com"})
        assert redirect.status_code == 301
        assert (
            redirect.headers["Location"]
            == f"https://api.example.com:{edge.https_port}/api/v1/articles?page=2"
        )
        _assert_security_headers(redirect)

        health = client.get(f"{edge.http}/api/v1/health/live")
        assert health.status_code == 200
        assert health.json()["proto"] == "http"


def test_edge_rate_limits_login_with_the_api_error_body(edge: Edge) -> None:
    with httpx.Client(verify=edge.tls) as client:
        responses = [client.post(f"{edge.https}/api/v1/auth/login", json={}) for _ in range(8)]
    statuses = [response.status_code for response in responses]
    assert statuses[:6] == [200] * 6  # one request plus a burst of five
    limited = responses[-1]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert limited.headers["Retry-After"] == "12"  # one sign-in slot at 5 a minute
    _assert_security_headers(limited)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports: each socket stays bound until all are chosen (one closed
    first could be handed out again: nginx once got the same port for HTTP and HTTPS)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _edge_error(response: httpx.Response, status: int, code: str) -> None:
    """nginx's own answer, in the API's error body and with the API's code for that status."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code, body
    _assert_security_headers(response)


def test_every_sign_in_path_shares_the_sign_in_limit_but_showing_the_form_is_free(edge: Edge) -> None:
    with httpx.Client(verify=edge.tls) as client:
        forms = [client.get(f"{edge.https}/admin/login") for _ in range(8)]
        assert [r.status_code for r in forms] == [200] * 8
        posts = [client.post(f"{edge.https}/admin/login", data={"email": "a"}) for _ in range(3)]
        posts += [client.post(f"{edge.https}/api/v1/auth/2fa/challenge", json={}) for _ in range(3)]
        assert [r.status_code for r in posts] == [200] * 6  # one plus the burst of five, across paths
        _edge_error(client.post(f"{edge.https}/api/v1/auth/login", json={}), 429, "RATE_LIMIT_EXCEEDED")
        limited = client.post(f"{edge.https}/admin/login", data={"email": "a"})
        _edge_error(limited, 429, "RATE_LIMIT_EXCEEDED")
        assert int(limited.headers["Retry-After"]) > 0


def test_long_query_strings_are_served_and_never_count_against_the_backend(edge: Edge) -> None:
    # 56 parameters of 50 characters: the cache key (which nginx writes in front of the response header)
    # overflowed proxy_buffer_size, "upstream sent too big header" counted against max_fails, and eight
    # such anonymous requests took every backend out of the upstream.
    query = "&".join(f"p{i}={'a' * 50}" for i in range(56))
    with httpx.Client(verify=edge.tls) as client:
        url = f"{edge.https}/api/v1/categories?{query}"
        statuses = [client.get(f"{url}&n={n}").status_code for n in range(10)]
        longest = client.get(f"{edge.https}/api/v1/categories?q={'b' * 8000}")
        after = client.get(f"{edge.https}/api/v1/articles")
    assert statuses == [200] * 10
    assert longest.status_code == 200
    assert after.status_code == 200
    log = edge.error_log.read_text()
    assert "too big header" not in log and "temporarily disabled" not in log, log[-2000:]


def test_oversized_and_malformed_requests_get_the_api_error_body(edge: Edge) -> None:
    with httpx.Client(verify=edge.tls) as client:
        _edge_error(client.get(f"{edge.https}/api/v1/articles?q={'a' * 9000}"), 414, "VALIDATION_ERROR")
        _edge_error(client.get(f"{edge.http}/api/v1/health?q={'a' * 9000}"), 414, "VALIDATION_ERROR")
        articles = f"{edge.https}/api/v1/articles"
        _edge_error(client.get(articles, headers={"X-Big": "a" * 40_000}), 400, "VALIDATION_ERROR")
        _edge_error(client.get(articles, headers={"Host": "h" * 300}), 400, "VALIDATION_ERROR")
        # Longer than nginx's header buffers: refused while parsing, before any URI exists.
        _edge_error(client.get(f"{edge.https}/api/v1/articles?q={'a' * 40_000}"), 414, "VALIDATION_ERROR")
        _edge_error(client.get(f"{edge.https}/_edge/bad_request"), 404, "NOT_FOUND")
        traced = client.request("TRACE", f"{edge.https}/api/v1/articles")
        _edge_error(traced, 405, "METHOD_NOT_ALLOWED")
        assert "GET" in traced.headers["Allow"] and "TRACE" not in traced.headers["Allow"]
    # Over HTTP/2 a header field larger than nginx's buffer closes the whole connection (GOAWAY); a
    # 20 KB URI must get the 414 instead.
    with httpx.Client(verify=edge.tls, http2=True) as client:
        long_uri = client.get(f"{edge.https}/api/v1/articles?q={'a' * 20_000}")
        assert long_uri.http_version == "HTTP/2"
        _edge_error(long_uri, 414, "VALIDATION_ERROR")
        assert client.get(f"{edge.https}/api/v1/articles").status_code == 200  # the connection lives on


def _raw_https(edge: Edge, request: bytes) -> tuple[bytes, bytes]:
    """Send ``request`` as it is (no client library would send it) and read the whole answer."""
    with (
        socket.create_connection(("127.0.0.1", edge.https_port), timeout=10) as raw,
        edge.tls.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(request)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /a b c HTTP/1.1\r\nHost: localhost\r\n\r\n", b"400"),
        # Raw UTF-8 in the path: uvicorn refused it with a plain-text 400 of its own.
        ("GET /api/v1/articles/\u00e9\u00e9 HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(), b"400"),
        (b"GET /api/v1/articles HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", b"501"),
        (b"GET /api/v1/articles HTTP/2.0\r\nHost: localhost\r\n\r\n", b"505"),
    ],
    ids=["malformed request line", "raw non-ASCII path", "unknown transfer coding", "HTTP/2.0 over TLS 1"],
)
def test_requests_nginx_refuses_while_parsing_get_the_api_error_body(
    edge: Edge, request_bytes: bytes, status: bytes
) -> None:
    head, body = _raw_https(edge, request_bytes.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert head.startswith(b"HTTP/1.1 " + status), head
    assert b"Content-Type: application/json" in head, head
    assert json.loads(body)["error"]["code"] == "VALIDATION_ERROR"


def test_a_body_over_the_limit_gets_the_apis_payload_too_large(edge: Edge) -> None:
    request = (
        "POST /api/v1/articles HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: 60000000\r\nConnection: close\r\n\r\n"
    )
    head, body = _raw_https(edge, request.encode())
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_cached_answer_never_replays_another_clients_rate_limit_headers(edge: Edge) -> None:
    with httpx.Client(verify=edge.tls) as client:
        first = client.get(f"{edge.https}/api/v1/categories?page=7")
        cached = client.get(f"{edge.https}/api/v1/categories?page=7")
    assert first.headers["X-Cache-Status"] == "MISS" and first.headers["X-RateLimit-Remaining"]
    assert cached.headers["X-Cache-Status"] == "HIT"
    assert "X-RateLimit-Remaining" not in cached.headers and "X-RateLimit-Limit" not in cached.headers


def test_edge_serves_the_web_client_beside_the_api(edge: Edge) -> None:
    """`/` and any client route are the SPA's index.html (never cached, the web CSP); hashed assets are
    immutable and compressed; a missing asset is a 404, not the index; the API stays proxied."""
    with httpx.Client(verify=edge.tls) as client:
        for path in ("/", "/articles/some-slug", "/profile?tab=sessions"):
            page = client.get(f"{edge.https}{path}")
            assert page.status_code == 200 and page.text == WEB_INDEX, path
            assert page.headers["Cache-Control"] == "no-cache"
            _assert_security_headers(page)
            policy = page.headers["Content-Security-Policy"]
            assert "script-src 'self';" in policy and "unsafe-inline" not in policy
            assert "X-Cache-Status" not in page.headers  # nginx's own file, not the API's cache
        asset = client.get(f"{edge.https}/assets/index-3f2a1b.js", headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200 and asset.text == WEB_SCRIPT
        assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert asset.headers["Content-Encoding"] == "gzip"
        _assert_security_headers(asset)
        assert client.get(f"{edge.https}/assets/index-000000.js").status_code == 404
        api = client.get(f"{edge.https}/api/v1/categories")
        assert api.json()["proto"] == "https" and "X-Cache-Status" in api.headers


SCANNER_PROBES = (
    "/wp-login.php",
    "/xmlrpc.php?rsd",
    "/WP-LOGIN.PHP",
    "/phpmyadmin/index.php",
    "/wp-admin/",
    "/cgi-bin/test.cgi",
    "/.env",
    "/.git/config",
    "/static/.aws/credentials",
)


def test_scanner_probes_get_the_json_404_and_acme_is_not_caught(edge: Edge) -> None:
    """Probes for other software's scripts and dotfiles are nginx's JSON 404 (the host's fail2ban counts
    them), on HTTPS and on plain HTTP; /.well-known/ is never caught (ACME, on HTTP in production)."""
    with httpx.Client(verify=edge.tls) as client:
        for path in SCANNER_PROBES:
            _edge_error(client.get(f"{edge.https}{path}"), 404, "NOT_FOUND")
            _edge_error(client.get(f"{edge.http}{path}"), 404, "NOT_FOUND")
        _edge_error(client.post(f"{edge.https}/xmlrpc.php", content=b"<methodCall/>"), 404, "NOT_FOUND")
        challenge = "/.well-known/acme-challenge/some-token"
        assert client.get(f"{edge.http}{challenge}").status_code == 301  # local: no ACME webroot
        assert client.get(f"{edge.https}{challenge}").text == WEB_INDEX  # the SPA's, not the probe 404
        assert client.get(f"{edge.https}/articles/some-slug").text == WEB_INDEX
        assert client.get(f"{edge.https}/api/v1/categories").json()["proto"] == "https"


def test_the_production_acme_location_still_serves_the_challenge() -> None:
    """The probe location is a regex, checked after the prefix match: its dotfile branch must skip
    /.well-known/ or it would take the ACME challenge from the prefix location."""
    text = render_nginx(production_nginx_context())
    locations = dict(_blocks(text, "location"))
    assert "root /var/www/certbot;" in locations["/.well-known/acme-challenge/"]
    [probe] = {header for header in locations if "wp-" in header}
    pattern = re.compile(probe.removeprefix("~* "), re.IGNORECASE)
    for path in ("/.well-known/acme-challenge/abc", "/.well-known/security.txt", "/api/v1/articles/a-b"):
        assert not pattern.search(path), path
    for path in ("/wp-login.php", "/.env", "/a/.git/HEAD", "/phpmyadmin", "/x.aspx"):
        assert pattern.search(path), path
    assert text.count(f"location {probe} {{") == 2  # the HTTPS server and the plain HTTP one
