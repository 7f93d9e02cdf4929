"""`cotune serve` as a real uvicorn process on 127.0.0.1: the client, raw sockets, and SIGTERM.

Each server is its own process on a free loopback port, started through the CLI exactly as a
user would, and always killed at the end of the test, whatever happens.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cotune.recipes.finetune import finetune
from cotune.serving.client import CotuneClient, ServerError

from .browser_helpers import serve_cli
from .helpers import tiny_config

KEY = "s3cret-key"
JSON = {"content-type": "application/json"}


@dataclass
class Live:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path


@pytest.fixture(scope="module")
def ner_dir(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("ner"), epochs=20, lr=5e-3)
    return finetune(cfg, progress=False)


@pytest.fixture(scope="module")
def live(ner_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server for the module (starting one costs seconds); the SIGTERM test runs last."""
    flags = ["--api-keys-env", "TEST_SERVE_KEYS", "--max-texts", "8"]
    flags += ["--max-chars", "100000", "--max-body-bytes", "300000"]
    log = tmp_path_factory.mktemp("server") / "server.log"
    with server(ner_dir, *flags, log=log) as (proc, url):
        yield Live(proc, url, log)


@contextmanager
def server(folder: Path, *flags: str, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    env = {"TEST_SERVE_KEYS": KEY, "HF_HUB_OFFLINE": "1"}
    with serve_cli([f"ner={folder}"], *flags, log=log, env=env, timeout=90) as running:
        yield running


def in_flight(metrics: str) -> float:
    found = re.search(r"^cotune_requests_in_flight (\S+)$", metrics, re.MULTILINE)
    assert found, metrics
    return float(found.group(1))


def test_client_against_a_live_server(live: Live) -> None:
    url = live.url
    with CotuneClient(url, api_key=KEY) as client:
        (info,) = client.models()
        assert info.name == "ner" and info.task == "token-classification"
        answer = client.predict("ner", ["john visited paris", "", "mary went to berlin"])
        assert len(answer.predictions) == 3
        for text, pred in zip(
            ["john visited paris", "", "mary went to berlin"], answer.predictions, strict=True
        ):
            for e in pred.entities:  # type: ignore[union-attr]
                assert text[e.start : e.end] == e.text
        with pytest.raises(ServerError) as caught:
            client.predict("ner", ["a"] * 9)
        assert caught.value.status == 413 and caught.value.detail.limit == "max_texts"
        assert "cotune_batch_size_bucket" in client.metrics()
    with CotuneClient(url) as anonymous:
        assert anonymous.healthy() and anonymous.ready()  # probes need no key
        with pytest.raises(ServerError) as caught:
            anonymous.models()
        assert caught.value.status == 401

    raw = httpx.Client(base_url=url, headers={"X-API-Key": KEY, **JSON})
    bad: list[tuple[Any, int]] = [
        (b"{not json", 422),
        (b'{"text": "caf\xe9"}', 400),  # Latin-1, not UTF-8
        (b'{"text": "\\udc80"}', 422),
        (b"x" * 400_000, 413),
    ]
    for body, status in bad:
        response = raw.post("/v1/models/ner/predict", content=body)
        assert response.status_code == status, response.text
        assert response.json()["error"]["type"]

    def streamed() -> Iterator[bytes]:  # chunked, no Content-Length: cut off while streaming
        yield b'{"text": "'
        for _ in range(50):
            yield b"john " * 2000
        yield b'"}'

    response = raw.post("/v1/models/ner/predict", content=streamed())
    assert response.status_code == 413
    assert response.json()["error"]["limit"] == "max_body_bytes"
    ok = raw.post("/v1/models/ner/predict", json={"text": "john visited paris"})
    assert ok.status_code == 200 and live.proc.poll() is None


def test_sigterm_finishes_the_request_in_flight(live: Live) -> None:
    """Runs last: it stops the module's server. A 100k-character text is in flight (seen in the
    server's own in-flight gauge) when SIGTERM arrives, and still gets its full answer."""
    text = ("john visited paris with mary . " * 3300)[:100_000]
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["response"] = httpx.post(
                f"{live.url}/v1/models/ner/predict",
                json={"text": text},
                headers={"X-API-Key": KEY},
                timeout=120,
            )
            result["at"] = time.monotonic()
        except Exception as e:  # reported below
            result["error"] = e

    caller = threading.Thread(target=call)
    caller.start()
    metrics = httpx.Client(base_url=live.url, headers={"X-API-Key": KEY})
    deadline = time.monotonic() + 60
    while in_flight(metrics.get("/metrics").text) < 2:  # the /metrics request itself is 1
        assert time.monotonic() < deadline and caller.is_alive(), result
        time.sleep(0.02)
    metrics.close()
    signalled = time.monotonic()
    live.proc.send_signal(signal.SIGTERM)
    caller.join(timeout=120)
    assert "error" not in result, result
    response = result["response"]
    assert response.status_code == 200, response.text
    assert result["at"] > signalled  # answered after the signal: the server waited for it
    entities = response.json()["predictions"][0]["entities"]
    assert len(entities) > 1000 and all(text[e["start"] : e["end"]] == e["text"] for e in entities)
    # uvicorn re-raises the signal once shut down, so the exit status is -SIGTERM or 0
    assert live.proc.wait(timeout=60) in (0, -signal.SIGTERM)
    log = live.log.read_text()
    assert "Application shutdown complete" in log, log
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{live.url}/healthz", timeout=2)
