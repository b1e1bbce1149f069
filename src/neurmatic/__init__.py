"""Neurmatic: the LLM community platform, its local production topology and its operations kit."""

from __future__ import annotations

from functools import cache


def __getattr__(name: str) -> str:
    """``neurmatic.__version__``, read from the installed metadata when first asked (importlib.metadata
    costs ~60 ms, which a command that never prints the version should not pay)."""
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neurmatic")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+source"
