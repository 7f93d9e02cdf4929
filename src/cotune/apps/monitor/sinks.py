"""Alert delivery: every alert is queued in the store with one delivery per sink, and a
background dispatcher hands due deliveries to their sinks, retrying a failed one with
exponential back-off. Ingestion never waits on a sink: a webhook that is down only delays its
own deliveries, which stay queued (in the store, so across restarts) until it accepts them.

Delivery is at-least-once: a crash between a sink's acceptance and the store's record of it
sends that alert again after the restart; each alert carries its `id` for receivers to dedupe.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import httpx

from cotune.apps.monitor.config import AlertsConfig, JsonlSink, LogSink, WebhookSink
from cotune.apps.monitor.store import Store

log = logging.getLogger("cotune.monitor.alerts")
LEASE_S = 60.0  # a claimed delivery is retried by another worker if not finished by then


class Sink(Protocol):
    def send(self, alert: dict[str, Any]) -> None:
        """Deliver one alert, or raise with the reason."""
        ...


class LogAlerts:
    def send(self, alert: dict[str, Any]) -> None:
        from cotune.apps.monitor.engine import describe

        log.warning("ALERT %s", describe(alert))


class JsonlAlerts:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send(self, alert: dict[str, Any]) -> None:
        line = json.dumps(alert, ensure_ascii=False, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # one write of a whole line, flushed to disk before the delivery is marked done
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())


class WebhookAlerts:
    def __init__(self, cfg: WebhookSink) -> None:
        self.cfg = cfg
        self.client = httpx.Client(timeout=cfg.timeout_s)

    def send(self, alert: dict[str, Any]) -> None:
        headers = {"content-type": "application/json", "idempotency-key": str(alert["id"])}
        response = self.client.post(
            self.cfg.url, json=alert, headers={**headers, **self.cfg.headers}
        )
        if response.status_code >= 300:
            raise RuntimeError(f"HTTP {response.status_code} from {self.cfg.url}")


def build_sink(cfg: LogSink | JsonlSink | WebhookSink, folder: Path) -> Sink:
    if isinstance(cfg, JsonlSink):
        path = cfg.path if cfg.path.is_absolute() else folder / cfg.path
        return JsonlAlerts(path)
    if isinstance(cfg, WebhookSink):
        return WebhookAlerts(cfg)
    return LogAlerts()


def backoff(cfg: AlertsConfig, attempts: int) -> float:
    return float(min(cfg.max_backoff_s, cfg.backoff_s * 2 ** max(attempts - 1, 0)))


class Dispatcher:
    """Delivers due alerts on its own thread (start/stop), or once (`deliver_due`)."""

    def __init__(self, store: Store, cfg: AlertsConfig, sinks: dict[str, Sink]) -> None:
        self.store, self.cfg, self.sinks = store, cfg, sinks
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def deliver_due(self) -> int:
        """One pass over the due deliveries; returns how many were delivered."""
        delivered = 0
        now = time.time()
        for row in self.store.due_deliveries(list(self.sinks), now):
            if self._stop.is_set():
                break
            if not self.store.claim_delivery(row.alert_id, row.sink, row.next_try, now + LEASE_S):
                continue
            alert = {"id": row.alert_id, **dict(row.body)}
            try:
                self.sinks[row.sink].send(alert)
            except Exception as e:  # a sink's failure is data (retried), never a crash
                attempts = row.attempts + 1
                give_up = self.cfg.max_attempts and attempts >= self.cfg.max_attempts
                retry_at = None if give_up else time.time() + backoff(self.cfg, attempts)
                self.store.finish_delivery(
                    row.alert_id, row.sink, ok=False, error=str(e)[:500], next_try=retry_at
                )
                log.warning(
                    "alert %s to sink %s failed (attempt %d): %s%s",
                    row.alert_id,
                    row.sink,
                    attempts,
                    e,
                    "; giving up" if give_up else "",
                )
            else:
                self.store.finish_delivery(
                    row.alert_id, row.sink, ok=True, error=None, next_try=None
                )
                delivered += 1
        return delivered

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # the store briefly unreachable: try again on the next tick
                log.exception("alert delivery pass failed")
            self._wake.wait(0.5)
            self._wake.clear()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="alert-dispatcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def drain(self, timeout: float) -> dict[str, int]:
        """Deliver what is due until none is pending or `timeout` passed (end of a replay)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.deliver_due()
            if not self.store.delivery_counts().get("pending"):
                break
            time.sleep(0.2)
        return self.store.delivery_counts()
