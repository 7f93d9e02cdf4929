"""The monitor served: HTTP push (batches, refusals, back-pressure, API keys), alert delivery to
a real local webhook that fails first, and the dashboard in a real headless Chromium during a
replay."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from cotune.apps.monitor.engine import Monitor
from cotune.apps.monitor.serve import MonitorMount
from cotune.apps.monitor.sinks import Dispatcher, build_sink
from cotune.serving import ServeSettings, create_app

from .browser_helpers import free_port, offline_page, wait_ready
from .monitor_helpers import NEG, monitor_config, sentiment_artifact, stream
from .serving_helpers import error_of


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory, tiny_backbone: Path) -> Path:
    return sentiment_artifact(tmp_path_factory, tiny_backbone)


def client_for(mount: MonitorMount, **settings: Any) -> TestClient:
    return TestClient(create_app(ServeSettings(**settings), {}, [mount]))


# ---------------------------------------------------------------------------- HTTP push


def test_push_batches_refusals_duplicates_and_reads(artifact: Path, tmp_path: Path) -> None:
    mount = MonitorMount("m", monitor_config(tmp_path, artifact))
    rows = stream(60, surge=(40, 50))
    with client_for(mount) as client:
        url = "/v1/monitors/m/events"
        answer = client.post(url, json={"events": [*rows[:300], {"text": "no ts"}]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["stored"] == 300 and body["refused"] == [{"index": 300, "reason": "missing ts"}]
        assert client.post(url, json=rows[0]).json()["duplicates"] == 1  # one object, again
        body = client.post(url, json=rows[300:]).json()
        assert body["stored"] == len(rows) - 300 and body["alerts"] == 1
        error = error_of(client.post(url, json=[{"ts": "x", "text": "y"}]), 422)
        assert "not an ISO 8601 time" in error["message"]
        error_of(
            client.post(url, content=b"{not json", headers={"content-type": "application/json"}),
            422,
        )
        topics = client.get("/v1/monitors/m/topics").json()["topics"]
        assert topics == [{"topic": "rates", "volume": 720, "negatives": topics[0]["negatives"]}]
        series = client.get("/v1/monitors/m/series", params={"topic": "rates"}).json()
        assert series["window_s"] == 300 and len(series["points"]) == 12
        alerts = client.get("/v1/monitors/m/alerts").json()["alerts"]
        assert len(alerts) == 1 and alerts[0]["examples"][0]["text"] in NEG
        assert client.get("/v1/monitors/m/status").json()["events"] == 720
        page = client.get("/monitors/m")
        assert page.status_code == 200 and 'data-monitor="m"' in page.text
        assert client.get("/monitors/m/static/chart.js").status_code == 200
        assert client.get("/monitors/m/static/..%2Fserve.py").status_code == 404


def test_push_over_capacity_is_refused_whole_with_retry_after(
    artifact: Path, tmp_path: Path
) -> None:
    cfg = monitor_config(tmp_path, artifact, ingest={"max_pending": 50})
    mount = MonitorMount("m", cfg)
    with client_for(mount) as client:
        answer = client.post("/v1/monitors/m/events", json=stream(5))  # 60 events > 50
        assert error_of(answer, 503)["type"] == "overloaded"
        assert answer.headers["retry-after"] == "1"
        assert mount.monitor.store.count() == 0  # nothing half-stored: the client resends it all
        assert client.post("/v1/monitors/m/events", json=stream(4)).json()["stored"] == 48


def test_push_needs_the_servers_api_key(artifact: Path, tmp_path: Path) -> None:
    os.environ["MONITOR_TEST_KEYS"] = "k1"
    mount = MonitorMount("m", monitor_config(tmp_path, artifact))
    with client_for(mount, api_keys_env="MONITOR_TEST_KEYS") as client:
        error_of(client.post("/v1/monitors/m/events", json=stream(1)), 401)
        ok = client.post("/v1/monitors/m/events", json=stream(1), headers={"X-API-Key": "k1"})
        assert ok.status_code == 200 and ok.json()["stored"] == 12


# ---------------------------------------------------------------------------- webhook


class Hook(BaseHTTPRequestHandler):
    fail_first = 2
    received: ClassVar[list[dict[str, Any]]] = []
    calls = 0

    def do_POST(self) -> None:
        Hook.calls += 1
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if Hook.calls <= Hook.fail_first:
            self.send_response(503)
        else:
            Hook.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    Hook.calls, Hook.received = 0, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()


def test_webhook_down_then_up_gets_every_alert_once_and_ingest_never_waits(
    artifact: Path, tmp_path: Path, webhook: str
) -> None:
    cfg = monitor_config(
        tmp_path,
        artifact,
        alerts={
            "sinks": [{"type": "webhook", "url": webhook}, {"type": "jsonl", "path": "a.jsonl"}],
            "backoff_s": 0.2,
        },
    )
    monitor = Monitor(cfg)
    sinks = {
        k: build_sink(s, cfg.folder) for k, s in zip(monitor.sinks, cfg.alerts.sinks, strict=True)
    }
    # a second surge on another topic, so two alerts queue while the hook is down
    rows = stream(180, surge=(100, 115)) + stream(180, surge=(120, 130), topic="fx", seed=9)
    from cotune.apps.monitor.events import event_from

    result = monitor.ingest([event_from(r, 5000) for r in rows])
    assert len(result.alerts) == 2
    assert monitor.store.delivery_counts() == {"pending": 4}  # queued before any sink is tried
    dispatcher = Dispatcher(monitor.store, cfg.alerts, sinks)
    counts = dispatcher.drain(30)
    assert counts == {"delivered": 4}, counts
    assert Hook.calls == 4 and sorted(a["name"] for a in Hook.received) == ["fx", "rates"]
    assert {a["id"] for a in Hook.received} == {a["id"] for a in result.alerts}
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["name"] for x in lines) == ["fx", "rates"]
    assert dispatcher.drain(1) == {"delivered": 4}  # nothing is sent twice


def test_webhook_that_never_answers_stays_queued(artifact: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/x"  # bound, never listening: refused
    cfg = monitor_config(tmp_path, artifact, alerts={"sinks": [{"type": "webhook", "url": dead}]})
    monitor = Monitor(cfg)
    from cotune.apps.monitor.events import event_from

    monitor.ingest([event_from(r, 5000) for r in stream(180, surge=(100, 115))])
    dispatcher = Dispatcher(
        monitor.store,
        cfg.alerts,
        {k: build_sink(s, tmp_path) for k, s in zip(monitor.sinks, cfg.alerts.sinks, strict=True)},
    )
    assert dispatcher.drain(1.5) == {"pending": 1}
    with monitor.store.engine.connect() as c:
        from sqlalchemy import text

        attempts, error = c.execute(text("select attempts, last_error from deliveries")).one()
    assert attempts >= 1 and error


# ---------------------------------------------------------------------------- dashboard


def test_dashboard_in_headless_chromium_during_a_replay(artifact: Path, tmp_path: Path) -> None:
    import uvicorn

    data = tmp_path / "stream.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in stream(240, surge=(120, 140))))
    # 240 minutes of events replayed at 600x real time: 24 s, the page loads while it runs
    cfg = monitor_config(
        tmp_path,
        artifact,
        source={"type": "file", "path": str(data), "speed": 600, "follow": False},
    )
    mount = MonitorMount("markets", cfg)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ServeSettings(), {}, [mount]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, None, None, 60)
        with offline_page(viewport={"width": 1280, "height": 900}) as view:
            page = view.page
            page.goto(f"{url}/monitors/markets")
            events_before = mount.monitor.store.count()
            assert events_before < 2880, "the replay finished before the page loaded"
            page.wait_for_function(
                "document.getElementById('chart').dataset.points > 10", timeout=60_000
            )
            page.wait_for_selector("#alerts li.alert", timeout=90_000)
            page.wait_for_function(
                "document.getElementById('chart').dataset.markers >= 1", timeout=10_000
            )
            alert = page.inner_text("#alerts li.alert")
            assert "topic rates" in alert and any(t in alert for t in NEG)
            assert page.inner_text("#topics").startswith("rates")
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            assert not view.errors and not view.refused, (view.errors, view.refused)
        assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    finally:
        server.should_exit = True
        thread.join(30)
