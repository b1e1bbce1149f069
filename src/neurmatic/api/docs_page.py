"""The API documentation page (Swagger UI) served from our own origin.

FastAPI's page loads Swagger UI from a CDN and starts it with an inline script: on a private network (or
any host that cannot reach the CDN) it renders blank, and its CSP had to allow the CDN and inline scripts.
Here the assets come from the pinned ``fastapi-offline`` wheel (Swagger UI 5, which renders OpenAPI 3.1)
and the start-up code is a file of ours, so the page's policy is ``script-src 'self'``.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/api/docs"
DOCS_ASSETS = f"{DOCS_PATH}/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Neurmatic API</title>
<link rel="stylesheet" href="{DOCS_ASSETS}/swagger-ui.css">
<link rel="icon" href="{DOCS_ASSETS}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{DOCS_ASSETS}/swagger-ui-bundle.js"></script>
<script src="{DOCS_PATH}/init.js"></script>
</body>
</html>
"""

# deepLinking off: the page never reads its fragment into the DOM. Try-it-out calls stay on this origin.
_INIT = """window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: false,
  persistAuthorization: false,
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
});
"""

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
async def docs_page() -> HTMLResponse:
    return HTMLResponse(_PAGE, headers={"Cache-Control": "no-cache"})


@router.get(f"{DOCS_PATH}/init.js")
async def docs_init() -> Response:
    return Response(_INIT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


def install_docs(app: FastAPI) -> None:
    """The page, its start-up script and the pinned Swagger UI assets (cached by the browser a day)."""
    app.include_router(router)
    app.mount(DOCS_ASSETS, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
