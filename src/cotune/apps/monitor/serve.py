"""The monitor served beside the models (`cotune serve`, `cotune monitor run`): HTTP push of
events, the dashboard's reads, the dashboard page, and the configured source and alert
dispatcher running in the background.

Routes (API ones share the server's API keys, body limits and JSON errors):
  POST /v1/monitors/{name}/events   one event, a list, or {"events": [...]}
  GET  /v1/monitors/{name}/topics | series | alerts | status
  GET  /monitors/{name}             the dashboard (static files under /monitors/{name}/static/)
"""

from __future__ import annotations

import logging
import threading
from enum import Enum
from html import escape
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import FileResponse, HTMLResponse
from starlette.concurrency import run_in_threadpool

from cotune.apps.monitor.config import MonitorConfig, load_monitor_config
from cotune.apps.monitor.engine import IngestResult, Monitor
from cotune.apps.monitor.events import Event, event_from
from cotune.apps.monitor.sinks import Dispatcher, build_sink
from cotune.serving.errors import ApiError
from cotune.serving.mounts import MountContext
from cotune.serving.settings import ServeSettings

log = logging.getLogger("cotune.monitor")
PAGES = Path(__file__).resolve().parent / "dashboard"
STATIC = {"app.js": "text/javascript", "chart.js": "text/javascript", "style.css": "text/css"}


class MonitorMount:
    kind = "monitors"

    def __init__(self, name: str, cfg: MonitorConfig, monitor: Monitor | None = None) -> None:
        self.name, self.cfg = name, cfg
        self.monitor = monitor if monitor is not None else Monitor(cfg)
        self.dispatcher = Dispatcher(
            self.monitor.store,
            cfg.alerts,
            {
                key: build_sink(s, cfg.folder)
                for key, s in zip(self.monitor.sinks, cfg.alerts.sinks, strict=True)
            },
        )
        self._ingest_lock = threading.Lock()  # one scoring batch at a time: the cores are few
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._source: threading.Thread | None = None
        self.source_error: str | None = None

    # ------------------------------------------------------------------ ingestion

    def ingest(self, events: list[Event]) -> IngestResult:
        with self._ingest_lock:
            result = self.monitor.ingest(events)
        if result.alerts:
            self.dispatcher.wake()
        return result

    def _reserve(self, n: int) -> None:
        with self._pending_lock:
            if self._pending + n > self.cfg.ingest.max_pending:
                raise ApiError(
                    503,
                    "overloaded",
                    f"{self._pending} events are waiting to be scored (ingest.max_pending="
                    f"{self.cfg.ingest.max_pending}); nothing of this request was stored, "
                    "send it again after Retry-After",
                    headers={"Retry-After": "1"},
                )
            self._pending += n

    def _release(self, n: int) -> None:
        with self._pending_lock:
            self._pending -= n

    def _run_source(self) -> None:
        from cotune.apps.monitor import sources

        src = self.cfg.source
        try:
            if src.type == "file":
                assert src.path is not None
                path = src.path if src.path.is_absolute() else self.cfg.folder / src.path
                sources.run_file(
                    self.monitor,
                    path,
                    follow=src.follow,
                    speed=src.speed,
                    stop=self._stop,
                    on_batch=lambda r: self.dispatcher.wake() if r.alerts else None,
                )
            elif src.type == "stdin":
                sources.run_stdin(self.monitor, self._stop)
            elif src.type == "redis":
                reader = sources.RedisSource(
                    src, self.cfg.models.batch_size, self.cfg.events.max_text_chars
                )
                reader.run(self.monitor, self._stop)
        except Exception as e:  # shown on /status; the API and dashboard keep serving
            self.source_error = f"{type(e).__name__}: {e}"
            log.exception("monitor %s: source %s stopped", self.name, src.type)

    async def start(self) -> None:
        self.dispatcher.start()
        if self.cfg.source.type != "http" and self._source is None:
            self._stop.clear()
            self._source = threading.Thread(
                target=self._run_source, name="monitor-source", daemon=True
            )
            self._source.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._source is not None:
            await run_in_threadpool(self._source.join, 10.0)
            self._source = None
        await run_in_threadpool(self.dispatcher.stop)

    # ------------------------------------------------------------------ routes

    def router(self, ctx: MountContext) -> APIRouter:
        r = APIRouter()
        api = f"/v1/monitors/{self.name}"
        page = f"/monitors/{self.name}"
        deps = list(ctx.protected)
        tags: list[str | Enum] = ["monitors"]
        store = self.monitor.store
        window_s = self.monitor.window_s

        @r.post(f"{api}/events", dependencies=deps, tags=tags)
        async def push(body: Any = Body(...)) -> dict[str, Any]:
            """Events in: one object, a list, or {"events": [...]}. Answers how many were stored,
            were duplicates, and which (by index) were refused and why."""
            items = body.get("events") if isinstance(body, dict) and "events" in body else body
            items = items if isinstance(items, list) else [items]
            if not items:
                raise ApiError(422, "invalid_request", "no events in the request")
            if len(items) > self.cfg.ingest.max_batch:
                raise ApiError(
                    413,
                    "max_batch",
                    f"{len(items)} events exceed ingest.max_batch={self.cfg.ingest.max_batch}; "
                    "split the batch",
                )
            events, refused = [], []
            for i, item in enumerate(items):
                try:
                    events.append(event_from(item, self.cfg.events.max_text_chars))
                except ValueError as e:
                    refused.append({"index": i, "reason": str(e)})
            if not events:
                raise ApiError(
                    422,
                    "invalid_request",
                    f"no valid event: {refused[0]['reason']}",
                    refused=refused,
                )
            self._reserve(len(events))
            try:
                result = await run_in_threadpool(self.ingest, events)
            finally:
                self._release(len(events))
            return {
                "received": len(items),
                "stored": result.stored,
                "duplicates": result.duplicates,
                "refused": refused,
                "alerts": len(result.alerts),
            }

        @r.get(f"{api}/topics", dependencies=deps, tags=tags)
        async def topics() -> dict[str, Any]:
            return {"topics": await run_in_threadpool(store.topics)}

        @r.get(f"{api}/series", dependencies=deps, tags=tags)
        async def series(
            topic: str | None = None,
            org: str | None = None,
            since: float | None = None,
            until: float | None = None,
            per: int = Query(1, ge=1, le=10000),
        ) -> dict[str, Any]:
            """Volume, negative share and mean score per window of one topic (or organisation)."""
            points = await run_in_threadpool(store.series_points, topic, org, since, until, per)
            return {"window_s": window_s * per, "points": points}

        @r.get(f"{api}/alerts", dependencies=deps, tags=tags)
        async def alert_list(
            since: float | None = None,
            until: float | None = None,
            limit: int = Query(100, ge=1, le=1000),
        ) -> dict[str, Any]:
            return {"alerts": await run_in_threadpool(store.alerts, since, until, limit)}

        @r.get(f"{api}/status", dependencies=deps, tags=tags)
        async def status() -> dict[str, Any]:
            return {
                "events": await run_in_threadpool(store.count),
                "newest_ts": store.max_ts(),
                "judged_through_window": store.closed_win(),
                "deliveries": store.delivery_counts(),
                "pending": self._pending,
                "source": self.cfg.source.type,
                "source_error": self.source_error,
            }

        @r.get(page, response_class=HTMLResponse, include_in_schema=False)
        async def dashboard() -> HTMLResponse:
            html = (PAGES / "index.html").read_text(encoding="utf-8")
            return HTMLResponse(html.replace("{{NAME}}", escape(self.name)))

        @r.get(page + "/static/{file}", include_in_schema=False)
        async def static(file: str) -> FileResponse:
            if file not in STATIC:
                raise ApiError(404, "not_found", f"no static file {file!r}")
            return FileResponse(PAGES / file, media_type=STATIC[file])

        return r


def load_mount(name: str, folder: Path, settings: ServeSettings) -> MonitorMount:
    """`cotune serve NAME=FOLDER` for a folder holding monitor.yaml."""
    return MonitorMount(name, load_monitor_config(folder))
