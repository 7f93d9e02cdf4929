"""The service's /docs page works offline: Swagger UI's files come from the installed package.

Checked the way a person uses it: `cotune serve` runs as a real process on loopback, headless
Chromium opens /docs, every request it makes is recorded (and any that would leave
127.0.0.1 is refused), the operations render, and "Try it out" / "Execute" on GET /v1/models
shows the served model's name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cotune.recipes.finetune import finetune
from cotune.serving import ServeSettings, create_app
from cotune.serving.docs import swagger_ui_folder

from .browser_helpers import offline_page, serve_cli
from .helpers import tiny_config


def test_docs_html_points_at_the_package_not_a_cdn() -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_app(ServeSettings(), {}))
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text, page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert f'"/docs/static/{asset}"' in page.text or f"'/docs/static/{asset}'" in page.text
        served = client.get(f"/docs/static/{asset}")
        assert served.status_code == 200
        assert served.content == (swagger_ui_folder() / asset).read_bytes()
    assert (
        client.get("/docs/static/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )
    assert client.get("/redoc").status_code == 404  # no offline ReDoc: off, not blank
    assert "/docs" not in client.get("/openapi.json").json()["paths"]
    # behind a proxy that strips /api, the page's URLs carry the prefix
    proxied = TestClient(create_app(ServeSettings(), {}), root_path="/api").get("/docs")
    assert "/api/docs/static/swagger-ui-bundle.js" in proxied.text
    assert "/api/openapi.json" in proxied.text


@pytest.fixture(scope="module")
def live_url(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = finetune(
        tiny_config(tiny_backbone, tmp_path_factory.mktemp("cls"), "cls", epochs=1),
        progress=False,
    )
    log = tmp_path_factory.mktemp("server") / "server.log"
    with serve_cli([f"sentiment={folder}"], log=log, timeout=90) as (_, url):
        yield url


def test_docs_page_renders_and_runs_offline_in_chromium(live_url: str) -> None:
    with offline_page() as view:
        page, errors = view.page, view.errors
        page.goto(f"{live_url}/docs", wait_until="networkidle")
        page.wait_for_selector(".opblock", timeout=30_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        shown = {p.replace("\u200b", "").strip() for p in paths}
        assert {"/v1/models", "/v1/models/{name}/predict", "/healthz"} <= shown, shown
        # a person's use: open GET /v1/models, Try it out, Execute, read the answer
        models = page.locator("#operations-models-list_models, .opblock-get").filter(
            has_text="/v1/models"
        )
        op = models.filter(has_not_text="{name}").first
        op.locator(".opblock-summary").click()
        op.get_by_role("button", name="Try it out").click()
        op.get_by_role("button", name="Execute").click()
        body = op.locator(".responses-wrapper .response-col_description .microlight").first
        body.wait_for(timeout=30_000)
        assert '"sentiment"' in body.inner_text()
        assert not errors, errors
    assert not view.refused, f"/docs asked beyond localhost: {view.refused}"
    requested = view.requested
    assert any(u.endswith("/docs/static/swagger-ui-bundle.js") for u in requested), requested
    assert any(u.endswith("/openapi.json") for u in requested), requested
