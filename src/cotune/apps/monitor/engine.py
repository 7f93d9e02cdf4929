"""The monitor's one ingestion path: dedupe -> score -> store (one commit) -> judge the windows
that closed -> queue their alerts. Every source (file, stdin, HTTP push, Redis) calls `ingest`;
a source acknowledges a batch only after `ingest` returned, so nothing acknowledged is lost.

Windows are judged from the store, never from memory: the newest stored event time minus the
allowed lateness is the watermark, each window wholly before it is judged once (a
compare-and-set on the last judged window, so two workers never judge the same one), and its
counts are read back by SQL. A restart, a replay or a second worker therefore sees exactly
what was stored, and a replayed window cannot alert twice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cotune.apps.monitor.config import MonitorConfig
from cotune.apps.monitor.detector import Detector, cooled_down, new_state
from cotune.apps.monitor.events import Event, iso
from cotune.apps.monitor.scoring import Scored, Scorer
from cotune.apps.monitor.store import Store

log = logging.getLogger("cotune.monitor")
EVICT_EVERY = 50  # windows between trims of the series state to detector.max_series


@dataclass
class IngestResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def __iadd__(self, other: IngestResult) -> IngestResult:
        self.received += other.received
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.alerts += other.alerts
        return self


def sink_names(cfg: MonitorConfig) -> list[str]:
    """Delivery keys of the configured sinks: position and type, stable across restarts."""
    return [f"{i}:{sink.type}" for i, sink in enumerate(cfg.alerts.sinks)]


class Monitor:
    def __init__(self, cfg: MonitorConfig, scorer: Scorer | None = None) -> None:
        self.cfg = cfg
        self.window_s = cfg.detector.window_minutes * 60.0
        self.store = Store(cfg.store_url(), self.window_s)
        self.scorer = scorer if scorer is not None else Scorer(cfg.models, cfg.events)
        self.detector = Detector(cfg.detector)
        self.sinks = sink_names(cfg)
        self._judged = 0

    # ------------------------------------------------------------------ ingestion

    def ingest(self, events: Sequence[Event], judge: bool = True) -> IngestResult:
        result = IngestResult(received=len(events))
        unique: dict[str, Event] = {}
        for e in events:
            unique.setdefault(e.id, e)
        existing = self.store.existing_ids(list(unique))
        fresh = [e for i, e in unique.items() if i not in existing]
        scored: list[Scored] = []
        for b in range(0, len(fresh), self.cfg.models.batch_size * 8):
            scored += self.scorer.score(fresh[b : b + self.cfg.models.batch_size * 8])
        result.stored = self.store.add(scored)
        result.duplicates = result.received - result.stored
        if judge:
            result.alerts = self.judge_windows()
        return result

    # ------------------------------------------------------------------ windows

    def last_closable(self, final: bool) -> int | None:
        newest = self.store.max_ts()
        if newest is None:
            return None
        if final:  # end of a replay: the last, partial window is judged too
            return int(newest // self.window_s)
        watermark = newest - self.cfg.events.lateness_minutes * 60.0
        return math.floor(watermark / self.window_s) - 1

    def judge_windows(self, final: bool = False) -> list[dict[str, Any]]:
        """Judge every window that closed; returns the alerts queued."""
        last = self.last_closable(final)
        out: list[dict[str, Any]] = []
        if last is None:
            return out
        while True:
            closed = self.store.closed_win()
            if closed is not None and closed >= last:
                return out
            with self.store.engine.begin() as conn:
                wins = self.store.windows_with_events(closed, last, conn)
                target = wins[0] if wins else last
                if not self.store.set_state_if(
                    "closed_win", None if closed is None else str(closed), str(target), conn
                ):
                    continue  # another worker judged it: read the mark again
                if wins:
                    out += self._judge(target, conn)
            if not wins:
                return out

    def _judge(self, win: int, conn: Any) -> list[dict[str, Any]]:
        counts = self.store.window_counts(win, conn)
        states = self.store.load_series(counts, conn)
        cooldown = self.cfg.alerts.cooldown_minutes * 60.0 / self.window_s
        queued = []
        for key, (n, k) in counts.items():
            st = states.setdefault(key, new_state())
            verdict = self.detector.judge(st, win, n, k)
            if not verdict.surge or not cooled_down(st, win, verdict.severity, cooldown):
                continue
            body = self._alert_body(key, win, verdict, conn)
            alert_id = self.store.add_alert(body, self.sinks, conn)
            st["last_alert_win"], st["last_severity"] = win, verdict.severity
            if alert_id is not None:
                queued.append({"id": alert_id, **body})
        self.store.save_series(states, win, conn)
        self._judged += 1
        if self._judged % EVICT_EVERY == 0:
            self.store.evict_series(self.cfg.detector.max_series, conn)
        return queued

    def _alert_body(self, key: str, win: int, v: Any, conn: Any) -> dict[str, Any]:
        kind, _, name = key.partition(":")
        start, end = win * self.window_s, (win + 1) * self.window_s
        return {
            "monitor": self.cfg.name,
            "series": key,
            "kind": kind,
            "name": name,
            "window_start": iso(start),
            "window_end": iso(end),
            "window_start_ts": start,
            "window_end_ts": end,
            "severity": v.severity,
            "baseline": round(v.baseline, 4),
            "observed": round(v.observed, 4),
            "lift": round(v.observed / v.baseline, 3) if v.baseline else None,
            "volume": v.volume,
            "negatives": v.negatives,
            "p_value": v.p_value,
            "statistic": v.statistic,
            "method": self.cfg.detector.method,
            "examples": self.store.examples(key, win, self.cfg.alerts.examples, conn),
        }

    def close(self) -> None:
        self.store.close()


def log_refused(where: str, reason: str) -> None:
    log.warning("refused %s: %s", where, reason)


def describe(alert: dict[str, Any]) -> str:
    return (
        f"[{alert['severity']}] {alert['kind']} {alert['name']!r} {alert['window_start']}: "
        f"{alert['observed']:.0%} negative of {alert['volume']} (baseline {alert['baseline']:.0%})"
    )


__all__ = ["Event", "IngestResult", "Monitor", "describe"]
