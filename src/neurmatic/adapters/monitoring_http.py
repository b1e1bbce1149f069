"""The JSON-over-HTTP edge shared by the Prometheus and Alertmanager adapters: one place where httpx's
errors become ``MonitoringUnavailable`` (no answer: names the URL and what to do) or
``MonitoringRequestRefused`` (an answer with an error status: the server's own message)."""

from __future__ import annotations

import urllib.parse
from typing import Any, ClassVar

import httpx

from neurmatic.errors import ConfigurationError, MonitoringRequestRefused, MonitoringUnavailable


class JsonHttp:
    """``what`` (``Prometheus``, ``Alertmanager``) at ``base_url``; ``hint`` says how to bring it up."""

    def __init__(self, what: str, base_url: str, *, hint: str, timeout: float = 5.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"{what}'s address must be an http(s) URL with a host, not {base_url!r}",
                hint=hint,
            )
        self.what = what
        # Credentials in the URL (``http://user:password@host:9090``) become basic auth; the URL shown in
        # messages and views is without them.
        self.auth = (
            (urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or ""))
            if parts.username
            else None
        )
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.base_url = urllib.parse.urlunsplit(parts._replace(netloc=host)).rstrip("/")
        self.hint = hint
        self.timeout = timeout

    def request(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any:
        """The decoded JSON answer (None for an empty body)."""
        url = self.base_url + path
        try:
            response = httpx.request(
                method, url, json=json, params=params, timeout=self.timeout, auth=self.auth
            )
        except httpx.HTTPError as exc:
            raise MonitoringUnavailable(
                f"{self.what} at {self.base_url} did not answer ({type(exc).__name__}: {exc})",
                hint=self.hint,
            ) from exc
        if response.status_code == 401:
            raise MonitoringRequestRefused(
                f"{self.what} at {self.base_url} wants a user and password",
                hint="give them in the URL (http://user:password@host:port); the local topology's are "
                "user `operator` and MONITORING_PASSWORD of its secrets.env",
            )
        if response.status_code >= 400:
            raise MonitoringRequestRefused(
                f"{self.what} refused {method} {path}: {response.status_code} {_message(response)}"
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise MonitoringUnavailable(
                f"{self.what} at {self.base_url} answered {path} with something that is not JSON",
                hint=f"is {self.base_url} really {self.what}? {self.hint}",
            ) from exc


def _message(response: httpx.Response) -> str:
    """The error text a server put in its body (Prometheus: ``error``; Alertmanager: a JSON string or
    ``message``), else the body itself, shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:300]
    return str(body).strip()[:300]


class MonitoringApi:
    """The base of the two servers' adapters: its name, the variable that names it, its JSON edge."""

    what: ClassVar[str]  # "Prometheus", "Alertmanager"
    variable: ClassVar[str]  # the env file's variable that gives its address

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self.http = JsonHttp(
            self.what,
            base_url,
            hint="is it running? `neurmatic up` starts the local topology's; for another deployment set "
            f"{self.variable} (or pass --{self.what.lower()}-url)",
            timeout=timeout,
        )

    @property
    def base_url(self) -> str:
        return self.http.base_url
