"""Scenarios and how they are found: one module per scenario in ``scenarios/``, each class registered.

Adding a scenario is adding a module to ``scenarios/`` with a :class:`Scenario` subclass decorated by
:func:`register`; every module there is imported when the registry is first asked, so nothing else
needs editing (the CLI's choices and help come from here).
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from neurmatic.ops.flows.drills.context import DrillContext

_REGISTRY: dict[str, type[Scenario]] = {}
_discovered = False


class Scenario(ABC):
    """A disaster to rehearse. The runner calls, in order, with the load running from start to stop:

    ``check_ready`` (before the load: refuse with DrillPreconditionFailed when the scenario cannot run),
    ``run`` (load running: inject the fault(s) with ``ctx.inject``, wait with ``ctx.await_recovery`` and
    ``ctx.await_service``), then (load stopped) ``verify``, and always ``restore`` (make the topology whole
    again, even after a failure, so the next drill starts from a whole system).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    needs_watcher: ClassVar[bool] = False  # the watcher must be running (it restarts API instances)
    # Synchronous replication promises that the fault loses no acknowledged write: checked from the RPO.
    loses_no_writes: ClassVar[bool] = False
    # Lost rows are an outage even while the API answers: the RTO runs until the repair is done too.
    rto_until_restored: ClassVar[bool] = False

    def check_ready(self, ctx: DrillContext) -> None:  # noqa: B027 - optional hook
        """Raise DrillPreconditionFailed when this scenario cannot run on the topology as it is."""

    @abstractmethod
    def run(self, ctx: DrillContext) -> None:
        """Inject the fault(s) and wait for recovery, while the load runs."""

    def verify(self, ctx: DrillContext) -> None:  # noqa: B027 - optional hook
        """Scenario-specific checks once the load has stopped (``ctx.check``)."""

    def restore(self, ctx: DrillContext) -> None:  # noqa: B027 - optional hook
        """Bring back what the drill removed (the runner then checks that every service is ready)."""


def register(cls: type[Scenario]) -> type[Scenario]:
    """Class decorator: make ``cls`` runnable as ``neurmatic drill <cls.name>``."""
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(
            f"two drill scenarios are named {cls.name!r}: {existing.__name__} and {cls.__name__}"
        )
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    from neurmatic.ops.flows.drills import scenarios

    for module in pkgutil.iter_modules(scenarios.__path__):
        importlib.import_module(f"{scenarios.__name__}.{module.name}")
    _discovered = True


def scenario_names() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def scenario_summaries() -> dict[str, str]:
    _discover()
    return {name: _REGISTRY[name].summary for name in sorted(_REGISTRY)}


def get_scenario(name: str) -> Scenario:
    """A fresh instance of the scenario called ``name`` (KeyError when there is none)."""
    _discover()
    return _REGISTRY[name]()
