"""Local sign-in providers speaking the real protocols, each in a thread on a free 127.0.0.1 port.

- :func:`oidc_provider`: oidc-provider-mock (a real OpenID Connect provider: authorization form, token
  endpoint, signed ID tokens, JWKS, userinfo) standing in for Google or LinkedIn.
- :class:`GitHubServer`: the part of GitHub's OAuth 2 and REST API that sign-in uses. It approves the
  authorization at once for the user a test chose, and checks what GitHub checks at the token endpoint:
  client credentials, a single-use code, the redirect URI and the PKCE verifier against the challenge.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseServer
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx

HOST = "127.0.0.1"


@contextmanager
def serving(server: BaseServer) -> Iterator[None]:
    """Serve ``server`` on a thread for the duration of the block."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def oidc_provider() -> Iterator[str]:
    """oidc-provider-mock on 127.0.0.1; yields its issuer URL.

    Its own ``run_server_in_thread`` binds "localhost", which may resolve to ::1 only.
    """
    import oidc_provider_mock
    import werkzeug.serving

    server = werkzeug.serving.make_server(HOST, 0, oidc_provider_mock.app(), threaded=True)
    with serving(server):
        yield f"http://{HOST}:{server.server_port}"


def set_oidc_user(issuer: str, sub: str, **claims: Any) -> None:
    """The claims the provider will report for ``sub`` (email, email_verified, name, ...)."""
    response = httpx.put(f"{issuer}/users/{quote(sub, safe='')}", json=claims)
    assert response.status_code == 204, response.text


@dataclass
class GitHubUser:
    id: int
    login: str
    name: str | None
    emails: list[dict[str, Any]]


@dataclass
class _Grant:
    user: GitHubUser
    redirect_uri: str
    challenge: str


@dataclass
class GitHubServer:
    client_id: str
    client_secret: str
    port: int = 0
    signed_in: GitHubUser | None = None  # who approves the next authorization
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _tokens: dict[str, GitHubUser] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if query.get("client_id") != self.client_id or self.signed_in is None:
            return 404, {}, {"message": "unknown application or nobody signed in"}
        if query.get("code_challenge_method") != "S256" or len(query.get("code_challenge", "")) != 43:
            return 400, {}, {"message": "PKCE S256 required"}
        code = secrets.token_hex(10)
        with self._lock:
            self._codes[code] = _Grant(self.signed_in, query["redirect_uri"], query["code_challenge"])
        location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return 302, {"Location": location}, None

    def access_token(self, form: dict[str, str]) -> dict[str, Any]:
        # GitHub answers 200 with an ``error`` field, whatever went wrong.
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return {"error": "incorrect_client_credentials"}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use
        if grant is None:
            return {"error": "bad_verification_code"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return {"error": "redirect_uri_mismatch"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return {"error": "bad_verification_code", "error_description": "PKCE verification failed"}
        token = f"gho_{secrets.token_hex(16)}"
        with self._lock:
            self._tokens[token] = grant.user
        return {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}

    def api(self, path: str, authorization: str) -> tuple[int, Any]:
        scheme, _, token = authorization.partition(" ")
        user = self._tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        if user is None:
            return 401, {"message": "Bad credentials"}
        if path == "/user":
            return 200, {"id": user.id, "login": user.login, "name": user.name, "email": None}
        if path == "/user/emails":
            return 200, user.emails
        return 404, {"message": "Not Found"}


def _handler(github: GitHubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            wants_json = "application/json" in self.headers.get("Accept", "") or self.command == "GET"
            payload = json.dumps(body) if wants_json else urlencode(body or {})
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json" if wants_json else "text/plain")
            self.send_header("Content-Length", str(len(payload.encode())))
            self.end_headers()
            self.wfile.write(payload.encode())

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/login/oauth/authorize":
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                status, headers, body = github.authorize(query)
                self._send(status, body, headers)
            else:
                self._send(*github.api(url.path, self.headers.get("Authorization", "")))

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/login/oauth/access_token":
                self._send(404, {"message": "Not Found"})
                return
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {key: values[0] for key, values in parse_qs(raw).items()}
            self._send(200, github.access_token(form))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def github_server(client_id: str, client_secret: str) -> Iterator[GitHubServer]:
    github = GitHubServer(client_id, client_secret)
    server = ThreadingHTTPServer((HOST, 0), _handler(github))
    github.port = server.server_address[1]
    with serving(server):
        yield github
