"""One source for every config: the Jinja2 environment over ``neurmatic/templates``.

The local topology and the committed production configs under ``infrastructure/`` are rendered by the
same templates; only the context differs (see ``render.nginx``, ``render.compose`` and friends).
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


def template_environment() -> Environment:
    """The Jinja2 environment: strict, so a missing context value is an error, not an empty string."""
    return Environment(
        loader=PackageLoader("neurmatic", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - these are config files, not HTML
    )


def render_template(name: str, **context: Any) -> str:
    """Render ``templates/<name>`` with ``context``."""
    return template_environment().get_template(name).render(**context)
