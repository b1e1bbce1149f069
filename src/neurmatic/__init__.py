"""Neurmatic: the LLM community platform, its local production topology and its operations kit."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neurmatic")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
