"""The community's traffic, for Locust (run by bench/load_test.py: ``./dev bench load``).

- ``Reader`` (most users): anonymous browsing: the latest articles page by page, a category, a tag, the
  most viewed, article pages, search.
- ``Member`` (``--member-percent`` of the users): signs in once when it arrives (so sign-ins spread over the
  ramp-up), then reads lists and articles signed in (the database path), its notifications and bookmarks,
  bookmarks articles, and now and then writes an article (a draft: at most one per member and run).

Every user waits 1-5 s between two actions (``--think``) and connects from its own loopback address
(bench/load/client.py). A request counts as failed on any status but the expected one or on a transport
error; its error kind is ``HTTP <status>`` or the exception's class name. The run stops at its time limit
or at ``max_requests``, whichever comes first.
"""

from __future__ import annotations

import functools
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust import FastHttpUser, TaskSet, between, events, task
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment
from locust.event import EventHook
from locust.runners import Runner, WorkerRunner

from bench.load.client import SourceBoundClientPool, source_address
from bench.load.scenario import Scenario

API = "/api/v1"
SIGN_IN_RETRY_SECONDS = 15.0


class _Process:
    """This Locust process's share of the run: its scenario, user numbering and request budget."""

    scenario: Scenario
    runner: Runner | None = None
    users = itertools.count()
    members = itertools.count()
    requests = 0
    budget = 0
    stopping = False

    @classmethod
    def worker(cls) -> int:
        """This process's number under ``--processes`` (known once the master has acknowledged it)."""
        return cls.runner.worker_index if isinstance(cls.runner, WorkerRunner) else 0

    @classmethod
    def next_account(cls) -> str:
        """The accounts are dealt round-robin to the processes, then to their members."""
        accounts = cls.scenario.accounts
        return accounts[(cls.worker() + cls.scenario.processes * next(cls.members)) % len(accounts)]


def _arguments(parser: Any) -> None:
    parser.add_argument("--scenario", help="the JSON file bench/load_test.py wrote", default="")
    parser.add_argument("--member-percent", type=int, default=5, help="share of signed-in users")
    parser.add_argument("--think", default="1-5", help="seconds between two actions of a user: MIN-MAX")


def _configure(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or not options.scenario:
        return  # the master of --processes: it runs no users
    _Process.scenario = Scenario.read(options.scenario)
    low, _, high = options.think.partition("-")
    for user_class in (Reader, Member):
        user_class.wait_time = between(float(low), float(high or low))
    Member.weight = options.member_percent
    Reader.weight = 100 - options.member_percent
    _Process.budget = max(1, _Process.scenario.max_requests // _Process.scenario.processes)
    _Process.runner = environment.runner


def _count(**_: Any) -> None:
    _Process.requests += 1
    if _Process.requests >= _Process.budget and not _Process.stopping:
        _Process.stopping = True
        if _Process.runner is not None:
            gevent.spawn(_Process.runner.quit)


def _listen(hook: EventHook, handler: Callable[..., None]) -> None:
    add_listener: Callable[[Callable[..., None]], object] = hook.add_listener  # Locust leaves it unannotated
    add_listener(handler)


_listen(events.init_command_line_parser, _arguments)
_listen(events.init, _configure)
_listen(events.request, _count)


def _failure_kind(response: ResponseContextManager) -> str:
    """``HTTP <status>``, or the transport error's class (a timeout comes wrapped in RetriesExceeded)."""
    if response.status_code:
        return f"HTTP {response.status_code}"
    error = getattr(response, "error", None)
    error = getattr(error, "original", None) or error
    return type(error).__name__


class LoopbackUser(FastHttpUser):
    """A user with its own loopback source address, TLS verified against the topology's CA."""

    abstract = True
    connection_timeout = 10.0
    network_timeout = 10.0
    default_headers = {"Accept": "application/json", "User-Agent": "neurmatic-load/1"}

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.rng = random.Random()
        self.source = source_address(_Process.worker(), next(_Process.users))
        agent = self.client.client
        agent.clientpool = SourceBoundClientPool(
            self.source, _Process.scenario.ca_file, **agent.clientpool.client_args
        )
        self.headers: dict[str, str] = {}

    @property
    def scenario(self) -> Scenario:
        return _Process.scenario

    def call(
        self, method: str, path: str, name: str, expect: int = 200, body: dict[str, Any] | None = None
    ) -> ResponseContextManager:
        """One request, judged: anything but ``expect`` is a failure of its kind."""
        response = self.client.request(
            method, API + path, name=name, json=body, headers=self.headers, catch_response=True
        )
        with response:  # its (unannotated) __enter__ returns the response itself
            if response.status_code != expect:
                fail: Callable[[str], None] = response.failure  # unannotated in Locust
                fail(_failure_kind(response))
        return response

    def page(self) -> int:
        """Most readers stay on the first pages."""
        return min(1 + int(self.rng.expovariate(0.5)), 50)

    def browse_latest(self) -> None:
        self.call("GET", f"/articles?page={self.page()}&limit=20", "list latest")

    def browse_category(self) -> None:
        category = self.rng.choice(self.scenario.categories)
        self.call("GET", f"/articles?category={category}&page={self.page()}&limit=20", "list by category")

    def browse_tag(self) -> None:
        tag = self.rng.choice(self.scenario.tags)
        self.call("GET", f"/articles?tag={tag}&page={self.page()}&limit=20", "list by tag")

    def browse_popular(self) -> None:
        self.call("GET", f"/articles?sort=-views&page={self.page()}&limit=20", "list most viewed")

    def read_article(self) -> None:
        self.call("GET", f"/articles/{self.rng.choice(self.scenario.slugs)}", "article page")

    def search(self) -> None:
        self.call("GET", f"/articles?q={self.rng.choice(self.scenario.search_terms)}&limit=20", "search")


def _weighted(weights: dict[Callable[[LoopbackUser], None], int]) -> list[TaskSet | Callable[..., Any]]:
    """Locust's task list: each action repeated as often as its weight."""
    return [action for action, weight in weights.items() for _ in range(weight)]


class Reader(LoopbackUser):
    """An anonymous visitor."""

    weight = 95
    wait_time = between(1, 5)
    tasks = _weighted(
        {
            LoopbackUser.browse_latest: 6,
            LoopbackUser.browse_category: 2,
            LoopbackUser.browse_tag: 2,
            LoopbackUser.browse_popular: 1,
            LoopbackUser.read_article: 8,
            LoopbackUser.search: 2,
        }
    )


def _signed_in(action: Callable[[Member], None]) -> Callable[[Member], None]:
    """A member's action that needs a session: it signs in first (or, until its next try, does nothing)."""

    @functools.wraps(action)
    def act(self: Member) -> None:
        if self.sign_in():
            action(self)

    return act


class Member(LoopbackUser):
    """A signed-in member of the community: reads as a reader does (the tasks here), and the @task
    methods below."""

    weight = 5
    wait_time = between(1, 5)
    tasks = _weighted(
        {
            LoopbackUser.browse_latest: 4,
            LoopbackUser.browse_category: 1,
            LoopbackUser.read_article: 4,
            LoopbackUser.search: 1,
        }
    )

    def on_start(self) -> None:
        self.wrote = False
        self.email = _Process.next_account()
        self.next_attempt = 0.0
        self.sign_in()

    def sign_in(self) -> bool:
        """Signed in already, or signs in now; after a failed attempt, tries again at most every 15 s
        (as a person would) and meanwhile reads anonymously."""
        if self.headers or time.monotonic() < self.next_attempt:
            return bool(self.headers)
        self.next_attempt = time.monotonic() + SIGN_IN_RETRY_SECONDS
        body = {"email": self.email, "password": self.scenario.password}
        response = self.call("POST", "/auth/login", "sign in", body=body)
        if response.status_code == 200:
            self.headers = {"Authorization": f"Bearer {response.json()['data']['accessToken']}"}
        return bool(self.headers)

    @task(3)
    @_signed_in
    def notifications(self) -> None:
        unread = "&unread=true" if self.rng.random() < 0.5 else ""
        self.call("GET", f"/notifications?limit=20{unread}", "notifications")

    @task(1)
    @_signed_in
    def read_all(self) -> None:
        self.call("POST", "/notifications/read-all", "notifications read-all")

    @task(2)
    @_signed_in
    def bookmark(self) -> None:
        slug = self.rng.choice(self.scenario.slugs)
        self.call("PUT", f"/articles/{slug}/bookmark", "bookmark")
        if self.rng.random() < 0.3:
            self.call("DELETE", f"/articles/{slug}/bookmark", "unbookmark")

    @task(2)
    @_signed_in
    def bookmarks(self) -> None:
        self.call("GET", "/users/me/bookmarks", "my bookmarks")

    @task(1)
    @_signed_in
    def me(self) -> None:
        self.call("GET", "/users/me", "me")

    @task(1)
    @_signed_in
    def write(self) -> None:
        if self.wrote:
            return
        self.wrote = True
        subject = self.rng.choice(self.scenario.search_terms)
        body = {
            "title": f"Notes on {subject} from the load test",
            "summary": f"A member's notes on {subject}.",
            "bodyHtml": f"<p>What we learned about {subject}.</p><p>More soon.</p>",
            "status": "draft",
            "category": self.rng.choice(self.scenario.categories),
            "tags": self.rng.sample(self.scenario.tags, 2),
        }
        self.call("POST", "/articles", "write article", expect=201, body=body)
