"""Patroni's REST API: what the cluster looks like, and the three actions we ask of it.

Standard library HTTP only: ``neurmatic status`` asks every node and must stay light. GET endpoints are
open; POST (failover, switchover, reinitialize) carries the REST API's basic-auth credentials.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neurmatic.errors import ConfigurationError, TopologyError

REST_USER = "patroni"
# Patroni's own words for a member that leads (``leader``; ``standby_leader`` in a standby cluster).
LEADER_ROLES = ("leader", "standby_leader")
# States Patroni does not leave by itself (a damaged data directory): they need a reinitialize.
STUCK_STATES = ("start failed", "restart failed", "crashed")


class PatroniUnreachable(TopologyError):
    """A Patroni REST API did not answer (the process is down, or not listening yet)."""


@dataclass(frozen=True)
class Member:
    """One member as ``GET /cluster`` lists it."""

    name: str
    role: str  # leader | sync_standby | replica (Patroni's words)
    state: str  # running | streaming | starting | stopped | crashed | creating replica ...
    host: str
    port: int
    api_url: str
    timeline: int | None
    lag_bytes: int | None  # None: unknown (Patroni says "unknown" while it cannot tell)

    @property
    def is_leader(self) -> bool:
        return self.role in LEADER_ROLES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Member:
        lag = data.get("lag")
        return cls(
            name=str(data["name"]),
            role=str(data.get("role", "")),
            state=str(data.get("state", "")),
            host=str(data.get("host", "")),
            port=int(data.get("port", 0)),
            api_url=str(data.get("api_url", "")).removesuffix("/patroni"),
            timeline=int(data["timeline"]) if isinstance(data.get("timeline"), int) else None,
            lag_bytes=lag if isinstance(lag, int) else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "state": self.state,
            "host": self.host,
            "port": self.port,
            "timeline": self.timeline,
            "lag_bytes": self.lag_bytes,
        }


@dataclass(frozen=True)
class Cluster:
    """``GET /cluster``: the members and whether automatic failover is paused."""

    members: list[Member]
    paused: bool

    @property
    def leader(self) -> Member | None:
        return next((m for m in self.members if m.is_leader and m.state == "running"), None)

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cluster:
        return cls([Member.from_json(m) for m in data.get("members", [])], bool(data.get("pause", False)))


@dataclass(frozen=True)
class Reply:
    status: int
    text: str


class PatroniApi:
    """One node's REST API (``http://host:8008``)."""

    def __init__(self, base_url: str, password: str | None = None, *, timeout: float = 3.0) -> None:
        try:
            parts = urllib.parse.urlsplit(base_url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            valid = False
        if not valid:
            raise ConfigurationError(
                f"a Patroni REST API address must be an http(s) URL with a host, not {base_url!r}",
                hint="NEURMATIC_PATRONI_URLS lists each node as http://host:8008",
            )
        self.base_url = base_url.rstrip("/")
        self.password = password
        self.timeout = timeout

    def get(self, path: str) -> Reply:
        return self._request(urllib.request.Request(self.base_url + path, method="GET"))  # noqa: S310 - http(s) only

    def get_json(self, path: str) -> dict[str, Any]:
        reply = self.get(path)
        try:
            data = json.loads(reply.text)
        except ValueError as exc:
            raise TopologyError(
                f"Patroni at {self.base_url}{path} answered {reply.status}: {reply.text[:200]}"
            ) from exc
        if not isinstance(data, dict):
            raise TopologyError(f"Patroni at {self.base_url}{path} answered {reply.text[:200]}")
        return data

    def cluster(self) -> Cluster:
        return Cluster.from_json(self.get_json("/cluster"))

    def node(self) -> dict[str, Any]:
        """``GET /patroni``: this node's state, role, timeline and WAL positions."""
        return self.get_json("/patroni")

    def post(self, path: str, body: Mapping[str, object], *, timeout: float | None = None) -> Reply:
        return self.send("POST", path, body, timeout=timeout)

    def send(
        self, method: str, path: str, body: Mapping[str, object], *, timeout: float | None = None
    ) -> Reply:
        """An authenticated request with a JSON body (``POST /failover``, ``PATCH /config``)."""
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in __init__
            self.base_url + path, data=json.dumps(body).encode(), method=method
        )
        request.add_header("Content-Type", "application/json")
        if self.password is not None:
            token = base64.b64encode(f"{REST_USER}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        return self._request(request, timeout=timeout)

    def _request(self, request: urllib.request.Request, *, timeout: float | None = None) -> Reply:
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:  # noqa: S310 - our own http URL
                return Reply(response.status, response.read().decode(errors="replace"))
        except urllib.error.HTTPError as exc:  # 503 from /health or /primary is an answer, not a failure
            return Reply(exc.code, exc.read().decode(errors="replace"))
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PatroniUnreachable(f"Patroni at {self.base_url} does not answer: {reason}") from exc


def own_api(apis: list[PatroniApi], member: Member) -> PatroniApi | None:
    """The one of ``apis`` (the addresses we were given) that ``member`` advertises, else None: credentials
    never go to an address read from etcd, where anyone who can write may plant a member."""
    advertised = member.api_url.rstrip("/")
    return next((api for api in apis if api.base_url == advertised), None)


def describe_member(member: Member) -> str:
    """Patroni's view of one member in a few words (``status``, ``health``)."""
    parts = [f"{member.name} {member.role} {member.state}"]
    if member.timeline is not None:
        parts.append(f"timeline {member.timeline}")
    if not member.is_leader:
        parts.append("lag unknown" if member.lag_bytes is None else f"lag {member.lag_bytes} B")
    return " ".join(parts)


def first_cluster(apis: list[PatroniApi]) -> Cluster:
    """The cluster as the first node that answers sees it; PatroniUnreachable when none does."""
    errors = []
    for api in apis:
        try:
            return api.cluster()
        except TopologyError as exc:
            errors.append(exc.message)
    raise PatroniUnreachable("no Patroni answers: " + "; ".join(errors))
