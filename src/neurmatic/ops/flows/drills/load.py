"""The drill's own load: a steady, bounded stream of writes and reads through nginx, as a client sees it.

Writes create article drafts by the drill user: cheap, durable in PostgreSQL, each with an id to look
up afterwards (the RPO check). Reads fetch the latest acknowledged draft. One thread writes and one
reads, each paced at ``rate`` per second on a fixed schedule that never bursts to catch up after a slow
answer (a recovering system is not hammered harder than a healthy one). The load ends at ``stop()``,
after ``duration`` seconds, or after ``max_requests``, whichever comes first.

nginx limits a client address to 10 requests/s (burst 20), and every drill request comes from
127.0.0.1: keep twice the rate under that, or 429s will be counted as failures (honestly, but uselessly).
"""

from __future__ import annotations

import itertools
import math
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from neurmatic.deployment.model import Deployment
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.events import Outcome, Recorder, RequestKind

REFRESH_AT_FRACTION = 0.8  # of the access token's lifetime


@dataclass(frozen=True)
class LoadOptions:
    rate: float = 4.0  # writes per second, and as many reads
    duration: float = 180.0  # upper bound of the load, seconds
    request_timeout: float = 5.0

    @property
    def max_requests(self) -> int:
        return math.ceil(2 * self.rate * self.duration) + 10


@dataclass(frozen=True)
class Endpoint:
    """The public HTTPS address of the deployment (its load balancer), trusted through its own CA when it
    has one (the local topology's), else the system's."""

    base_url: str
    ca_file: Path | None
    timeout: float = 5.0

    @classmethod
    def of(cls, deployment: Deployment, timeout: float = 5.0) -> Endpoint:
        return cls(deployment.public_url, deployment.ca_file, timeout)

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        return httpx.Client(base_url=self.base_url, verify=context, timeout=self.timeout)


def failure_reason(response: httpx.Response) -> str:
    """``HTTP 503 SERVICE_UNAVAILABLE``: the status and the API's (or nginx's) error code when it has one."""
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    return f"HTTP {response.status_code}" + (f" {code}" if code else "")


class Credentials:
    """The drill user's tokens: signed in once, refreshed before the access token expires.

    A 401 is never answered by signing in again: a session lost in a fault must show as failures.
    """

    def __init__(self, endpoint: Endpoint, tokens: dict[str, object], clock: Callable[[], float]) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self._lock = threading.Lock()
        self._identity = ("", "")
        self._store(tokens)

    def _store(self, tokens: dict[str, object]) -> None:
        self.access_token = str(tokens["accessToken"])
        self.refresh_token = str(tokens["refreshToken"])
        self.expires_in = float(str(tokens.get("expiresIn", 900)))
        self.issued_at = self.clock()

    @classmethod
    def sign_in(
        cls, endpoint: Endpoint, email: str, password: str, clock: Callable[[], float]
    ) -> Credentials:
        with endpoint.client() as client:
            response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        if response.status_code != 200:
            raise DrillPreconditionFailed(
                f"the drill user could not sign in through nginx ({failure_reason(response)})",
                hint="check `neurmatic health`; a 429 means the sign-in rate limit: wait a few minutes",
            )
        credentials = cls(endpoint, response.json()["data"], clock)
        credentials._identity = (email, password)
        return credentials

    def sign_in_again(self) -> None:
        """A new session, for the one scenario where losing every session is the expected cost (the whole
        server rebuilt: Redis starts empty). Raises DrillPreconditionFailed when sign-in fails."""
        email, password = self._identity
        fresh = Credentials.sign_in(self.endpoint, email, password, self.clock)
        with self._lock:
            self.access_token, self.refresh_token = fresh.access_token, fresh.refresh_token
            self.expires_in, self.issued_at = fresh.expires_in, fresh.issued_at

    def header(self, client: httpx.Client) -> dict[str, str]:
        with self._lock:
            if self.clock() - self.issued_at > self.expires_in * REFRESH_AT_FRACTION:
                self._try_refresh(client)
            return {"Authorization": f"Bearer {self.access_token}"}

    def _try_refresh(self, client: httpx.Client) -> None:
        try:
            response = client.post("/api/v1/auth/refresh", json={"refreshToken": self.refresh_token})
        except httpx.HTTPError:
            return  # keep the current token; the next request tries again
        if response.status_code == 200:
            self._store(response.json()["data"])


class Load:
    """Writer and reader threads recording every request into ``recorder``."""

    def __init__(
        self,
        endpoint: Endpoint,
        credentials: Credentials,
        recorder: Recorder,
        options: LoadOptions,
        run_id: str,
    ) -> None:
        self.endpoint, self.credentials, self.recorder = endpoint, credentials, recorder
        self.options, self.run_id = options, run_id
        self._stop = threading.Event()
        self._seq = itertools.count(1)
        self._count_lock = threading.Lock()
        self._requests = 0
        self._latest_slug: str | None = None
        self._deadline = 0.0
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._deadline = self.recorder.now() + self.options.duration
        for name, action in (("write", self._write), ("read", self._read)):
            thread = threading.Thread(target=self._paced, args=(action,), name=f"drill-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        """Stop both threads: each finishes (or times out) its request in flight, then returns."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.options.request_timeout + 5)

    def _take_budget(self) -> bool:
        with self._count_lock:
            if self._requests >= self.options.max_requests or self.recorder.now() >= self._deadline:
                return False
            self._requests += 1
            return True

    def _paced(self, action: Callable[[httpx.Client], None]) -> None:
        interval = 1.0 / self.options.rate
        next_at = self.recorder.now()
        with self.endpoint.client() as client:
            while not self._stop.is_set() and self._take_budget():
                action(client)
                next_at = max(next_at + interval, self.recorder.now())
                if self._stop.wait(max(0.0, next_at - self.recorder.now())):
                    return

    def _request(self, kind: RequestKind, seq: int, send: Callable[[], httpx.Response], expect: int) -> None:
        sent = self.recorder.now()
        try:
            response = send()
            ok = response.status_code == expect
            ref = self._ref(response) if ok and kind == "write" else None
        except Exception as exc:  # every way a request can fail is a recorded failure, never a dead thread
            self.recorder.record(
                Outcome(kind, seq, sent, self.recorder.now(), False, reason=type(exc).__name__)
            )
            return
        done = self.recorder.now()
        reason = None if ok else failure_reason(response)
        self.recorder.record(Outcome(kind, seq, sent, done, ok, response.status_code, reason, ref))

    def _ref(self, response: httpx.Response) -> str | None:
        data = response.json()["data"]
        self._latest_slug = str(data["slug"])
        return str(data["id"])

    def _write(self, client: httpx.Client) -> None:
        seq = next(self._seq)
        body = {
            "title": f"DR drill {self.run_id} write {seq}",
            "bodyHtml": "<p>Written by a disaster-recovery drill; removed when the drill ends.</p>",
            "status": "draft",
        }
        self._request(
            "write",
            seq,
            lambda: client.post("/api/v1/articles", json=body, headers=self.credentials.header(client)),
            201,
        )

    def _read(self, client: httpx.Client) -> None:
        slug = self._latest_slug
        path = f"/api/v1/articles/{slug}" if slug else "/api/v1/articles?limit=5"
        self._request(
            "read", next(self._seq), lambda: client.get(path, headers=self.credentials.header(client)), 200
        )
