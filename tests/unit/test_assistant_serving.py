"""The assistant served beside the models: the REST route (auth, limits, errors, metrics) and
the chat page, used in a real headless Chromium the way a customer uses it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from cotune.apps.assistant.log import QueryLog
from cotune.apps.assistant.serve import load_mount
from cotune.serving import ServeSettings, create_app

from .assistant_helpers import built
from .browser_helpers import offline_page, serve_cli
from .serving_helpers import error_of

__all__ = ["built"]
ASK = "/v1/assistants/bank/ask"


def client_for(folder: Path, **settings: object) -> TestClient:
    cfg = ServeSettings(**settings)  # type: ignore[arg-type]
    return TestClient(create_app(cfg, {}, [load_mount("bank", folder, cfg)]))


def test_ask_route_answers_logs_and_survives_bad_requests(built: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bot"
    shutil.copytree(built, folder)
    with client_for(folder, max_chars=200) as client:
        ok = client.post(ASK, json={"text": "he went to paris"})
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert {"intent", "confidence", "answer", "faq_id", "handoff", "candidates"} <= set(body)
        person = client.post(ASK, json={"text": "转人工"}).json()
        assert person["handoff"] and person["reason"] == "asked for a person"
        error_of(
            client.post(
                ASK, content=b'{"text": "he went', headers={"content-type": "application/json"}
            ),
            422,
        )
        error_of(client.post(ASK, json={"text": "   "}), 422)
        error_of(client.post(ASK, json={"text": 5}), 422)
        error_of(client.post(ASK, json={"question": "paris"}), 422)
        assert error_of(client.post(ASK, json={"text": "x" * 201}), 413)["limit"] == "max_chars"
        error_of(client.post("/v1/assistants/other/ask", json={"text": "paris"}), 404)
        emoji = client.post(ASK, json={"text": "🙂 paris 巴黎"})
        assert emoji.status_code == 200, emoji.text
        assert client.post(ASK, json={"text": "a good movie"}).status_code == 200  # still alive
        info = client.get("/v1/assistants/bank").json()
        assert info["intents"] == ["company", "film", "travel"] and info["faq_entries"] == 4
        assert 0 <= info["lexical_weight"] <= 1 and isinstance(info["threshold_by_lang"], dict)
        metrics = client.get("/metrics").text
        assert 'route="/v1/assistants/bank/ask",method="POST",status="200"' in metrics
    assert QueryLog(folder / "queries.db").count() == 4  # the answered ones, not the refused


def test_ask_route_shares_the_api_keys(built: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bot"
    shutil.copytree(built, folder)
    keys = tmp_path / "keys.txt"
    keys.write_text("secret-key-1234567890\n")
    with client_for(folder, api_keys_file=keys) as client:
        error_of(client.post(ASK, json={"text": "paris"}), 401)
        good = client.post(
            ASK, json={"text": "paris"}, headers={"X-API-Key": "secret-key-1234567890"}
        )
        assert good.status_code == 200
        assert client.get("/assistants/bank").status_code == 200  # the page itself is public


def test_page_and_assets_are_local(built: Path) -> None:
    with client_for(built) as client:
        page = client.get("/assistants/bank")
        assert (
            page.status_code == 200 and "https://" not in page.text and "http://" not in page.text
        )
        for asset in ("chat.js", "chat.css"):
            assert f"bank/static/{asset}" in page.text
            assert client.get(f"/assistants/bank/static/{asset}").status_code == 200
        assert client.get("/assistants/bank/static/secret.py").status_code == 404


@pytest.fixture(scope="module")
def live_url(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("live") / "bank"
    shutil.copytree(built, folder)
    log = tmp_path_factory.mktemp("server") / "server.log"
    with serve_cli([f"bank={folder}"], log=log) as (_, url):
        yield url


def test_chat_page_in_headless_chromium(live_url: str) -> None:
    """Type, send, read the answer and its FAQ id; ask for a person, see the hand-off."""
    with offline_page() as view:
        page, errors = view.page, view.errors
        page.goto(f"{live_url}/assistants/bank", wait_until="networkidle")
        page.fill("#question", "is the film good")
        page.click("#send")
        bot = page.locator(".msg.bot").first
        bot.wait_for(timeout=30_000)
        meta = bot.locator(".meta")
        expected = httpx.post(f"{live_url}{ASK}", json={"text": "is the film good"}).json()
        if expected["faq_id"]:
            assert f"FAQ {expected['faq_id']}" in meta.inner_text()
            assert meta.get_attribute("data-faq-id") == expected["faq_id"]
        if expected["answer"] and expected["intent"] is not None:
            assert expected["answer"] in bot.inner_text()
        assert (bot.locator(".handoff").count() == 1) == expected["handoff"]
        page.fill("#question", "I want to talk to a real person")
        page.press("#question", "Enter")
        second = page.locator(".msg.bot").nth(1)
        second.wait_for(timeout=30_000)
        assert "handing you over to a person" in second.locator(".handoff").inner_text()
        assert "asked for a person" in second.inner_text()
        page.fill("#question", "转人工")
        page.click("#send")
        third = page.locator(".msg.bot").nth(2)
        third.wait_for(timeout=30_000)
        assert "转接人工客服" in third.locator(".handoff").inner_text()
        assert page.locator(".msg.user").count() == 3
        assert not errors and not view.refused, (errors, view.refused)
