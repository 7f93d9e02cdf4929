"""The service's interactive API page (/docs), served from installed files, never a CDN.

FastAPI's default /docs page loads Swagger UI's script and style from a CDN, so on a machine
without internet (the machines cotune is built for) it stays blank. The same Swagger UI files
ship in the `swagger-ui-bundle-v2` package (5.x, which reads the OpenAPI 3.1 FastAPI writes);
they are mounted under /docs/static and the page points there. ReDoc has no offline bundle
here, so /redoc is switched off rather than served blank.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS = "/docs"
STATIC = "/docs/static"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


def swagger_ui_folder() -> Path:
    """The installed Swagger UI dist folder; an error naming the package when it is absent."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError as e:  # a hand-made environment without the pinned set
        raise RuntimeError(
            "the /docs page needs the swagger-ui-bundle-v2 package (Swagger UI's files): "
            "pip install -r requirements/base.txt"
        ) from e
    folder = Path(str(swagger_ui_path))
    missing = [name for name in ASSETS if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"Swagger UI files missing from {folder}: {', '.join(missing)}")
    return folder


def install_docs(app: FastAPI) -> None:
    """GET /docs (Swagger UI over this app's /openapi.json) with its assets from the package.
    The app must be created with docs_url=None and redoc_url=None."""
    app.mount(STATIC, StaticFiles(directory=swagger_ui_folder()), name="swagger-ui")

    @app.get(DOCS, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        # behind a proxy that strips a prefix, the page's URLs must carry it (root_path)
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC}/favicon-32x32.png",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
