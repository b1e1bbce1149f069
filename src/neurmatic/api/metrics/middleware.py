"""The route label of a request's metrics and access-log line (the front door counts and times them)."""

from __future__ import annotations

from starlette.types import Scope

UNMATCHED = "unmatched"  # 404s for arbitrary paths must not create a label each


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/articles/{slug}``), or ``unmatched``.

    FastAPI records the full template of an included router's route in its own scope entry; a plain
    Starlette route is in ``scope["route"]``.
    """
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    template = getattr(context, "path_format", None)
    if template:
        return str(template)
    route = scope.get("route")
    return str(getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED)
