"""The release interface of a platform: ``ReleaseControl``, what it returns and raises.

The ops flows (``ops/flows/releases/``) keep the procedures: the order of the steps, the pre-flight
checks, the health gate, the rollback on failure, the schema guard, Slack. What they ask of a platform is
only the mechanics of processes: build a release where the platform keeps them, stop and start an API
instance or the worker on a release, say which release each runs, change the load balancer's members
and wait for it to settle, add or remove instances. The local topology implements it in
``supervisor/releases_control.py``; a deployment without a platform refuses (exit 3) before any step.

Services are named as the operators see them (``backend-1`` … and ``worker``); an API instance's
``index`` is its place among the balancer's members, so "instances 1 to N" is the whole pool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from neurmatic.errors import NeurmaticError

Progress = Callable[[str], None]


class DeployFailed(NeurmaticError):
    """A deploy, rollback or scaling stopped; the message says what runs now."""


class DeployRolledBack(DeployFailed):
    """The new release failed in production and the previous one was put back automatically."""


class SchemaNotExpandOnly(DeployFailed):
    """The release's migrations drop or narrow the schema; they were rolled back, nothing was switched."""


@dataclass(frozen=True)
class BuiltRelease:
    """A release ready to run: where it is, what it was built from, and what it had to install."""

    version: str
    path: Path
    commit: str | None
    source: str
    duration_seconds: float
    installed: tuple[str, ...] = ()  # dependencies installed into the release's own environment


@dataclass(frozen=True)
class Instance:
    """An API instance: its service name, its place in the balancer's pool, and the ``host:port`` the
    balancer reaches it at (the address its access log names)."""

    name: str
    index: int
    address: str


class ReleaseControl(Protocol):
    """Building releases beside each other and switching API instances and the worker between them."""

    location: str  # for messages: where the releases and services live ("/srv/neurmatic/.neurmatic")
    history_file: Path  # the release records (``ops/flows/releases/history.py`` reads and writes it)
    lock_file: Path  # held while a deploy, rollback or scaling runs: one at a time
    worker: str  # the job worker's service name
    max_instances: int  # the most API instances the platform can run

    def build(self, version: str, source: Path, ref: str | None, progress: Progress) -> BuiltRelease:
        """Build ``version`` from ``source`` (a git repository at ``ref``, default ``version``, or a
        directory) beside the other releases, runnable by the services; DeployFailed when it cannot."""
        ...

    def has_release(self, version: str) -> bool:
        """Whether ``version`` is built and still there (not pruned)."""
        ...

    def remove_release(self, version: str) -> None:
        """Delete a built release (pruning); nothing may run it."""
        ...

    def release_python(self, version: str) -> Path:
        """The interpreter of ``version``, which runs its migrations with its own code."""
        ...

    def release_source(self, version: str) -> Path:
        """The ``src`` directory of ``version`` (its Alembic scripts live under it)."""
        ...

    def instances(self) -> list[Instance]:
        """The API instances the deployment runs now, in index order."""
        ...

    def instance(self, index: int) -> Instance:
        """API instance ``index``, whether or not it runs (scaling up names it before it starts)."""
        ...

    def release_of(self, service: str) -> str | None:
        """The release ``service`` runs, as recorded (None: the installed package)."""
        ...

    def record_release(self, service: str, version: str | None) -> None:
        """Record that ``service`` runs ``version`` (None: the installed package); its next start, and
        any restart after a crash, uses it."""
        ...

    def is_running(self, service: str) -> bool: ...

    def is_ready(self, service: str) -> bool:
        """Running and answering its readiness probe."""
        ...

    def hold(self, service: str) -> AbstractContextManager[None]:
        """While held, whatever restarts crashed services leaves ``service`` alone."""
        ...

    def start(self, service: str) -> None:
        """Start ``service`` on its recorded release (does not wait for readiness)."""
        ...

    def wait_ready(self, service: str, timeout: float) -> None:
        """Wait until ``service`` is ready; ServiceStartError (with its log's tail) when it exits or
        is not ready within ``timeout`` seconds."""
        ...

    def stop(self, service: str) -> None:
        """Stop ``service`` gracefully; a deliberate stop, never taken for a crash."""
        ...

    def open_connections(self, instance: Instance) -> int:
        """Connections open to ``instance`` now (zero once the balancer has drained it)."""
        ...

    def balancer_running(self) -> bool: ...

    def route(self, indexes: Sequence[int], settle_timeout: float) -> bool:
        """Make the balancer send traffic to exactly these API instances; wait until what it had in
        flight under the previous membership is answered. False when some is still busy at
        ``settle_timeout`` (a WebSocket, say)."""
        ...

    def access_log(self) -> Path:
        """The balancer's access log (``upstream=`` names the instances each request went to)."""
        ...

    def set_instance_count(self, count: int) -> None:
        """Persist how many API instances run (instances 1 to ``count``)."""
        ...
