"""Prometheus metrics in the text exposition format, written by hand.

prometheus_client is not a dependency of cotune and the few metric kinds the server needs
(counters, gauges, histograms with labels) take a page. Every metric is guarded by a lock: the
event loop and the inference threads both record.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = ""

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_, tuple(labels)
        self._lock = threading.Lock()

    def _labels(self, values: Sequence[str], extra: str = "") -> str:
        parts = [f'{k}="{_escape(str(v))}"' for k, v in zip(self.label_names, values, strict=True)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(labels, 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{self._labels(k)} {_number(v)}" for k, v in items]


class Gauge(_Metric):
    """A value set by the code, or read from `source` at scrape time."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        help_: str,
        labels: Sequence[str] = (),
        source: Callable[[], Iterable[tuple[tuple[str, ...], float]]] | None = None,
    ) -> None:
        super().__init__(name, help_, labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._source = source

    def set(self, value: float, *labels: str) -> None:
        with self._lock:
            self._values[labels] = value

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def lines(self) -> list[str]:
        with self._lock:
            items = dict(self._values)
        if self._source is not None:
            items.update(self._source())
        return [f"{self.name}{self._labels(k)} {_number(v)}" for k, v in sorted(items.items())]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self, name: str, help_: str, labels: Sequence[str] = (), buckets: Sequence[float] = ()
    ) -> None:
        super().__init__(name, help_, labels)
        self.buckets = (*sorted(buckets), math.inf)
        self._series: dict[tuple[str, ...], list[float]] = {}  # bucket counts + [sum, count]

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            series = self._series.setdefault(labels, [0.0] * (len(self.buckets) + 2))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    series[i] += 1
            series[-2] += value
            series[-1] += 1

    def counts(self, *labels: str) -> dict[float, float]:
        """Cumulative count per upper bound (for tests and the bench)."""
        with self._lock:
            series = self._series.get(labels, [0.0] * (len(self.buckets) + 2))
            return dict(zip(self.buckets, series, strict=False))

    def total(self, *labels: str) -> tuple[float, float]:
        """(sum, count) of the observations."""
        with self._lock:
            series = self._series.get(labels, [0.0] * (len(self.buckets) + 2))
            return series[-2], series[-1]

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        out = []
        for labels, series in items:
            for bound, count in zip(self.buckets, series, strict=False):
                le = f'le="{_number(bound)}"'
                out.append(f"{self.name}_bucket{self._labels(labels, le)} {_number(count)}")
            out.append(f"{self.name}_sum{self._labels(labels)} {_number(series[-2])}")
            out.append(f"{self.name}_count{self._labels(labels)} {_number(series[-1])}")
        return out


class ServingMetrics:
    """The server's metrics; `render()` is the body of GET /metrics."""

    def __init__(self) -> None:
        self.requests = Counter(
            "cotune_requests_total", "HTTP requests answered.", ["route", "method", "status"]
        )
        self.errors = Counter(
            "cotune_request_errors_total", "Requests answered with 4xx or 5xx.", ["route", "status"]
        )
        self.latency = Histogram(
            "cotune_request_duration_seconds",
            "Time from request to response.",
            ["route"],
            LATENCY_BUCKETS,
        )
        self.in_flight = Gauge("cotune_requests_in_flight", "Requests being answered.")
        self.texts = Counter("cotune_texts_total", "Texts predicted.", ["model"])
        self.batch_size = Histogram(
            "cotune_batch_size", "Texts per model batch.", ["model"], BATCH_BUCKETS
        )
        self.batch_latency = Histogram(
            "cotune_batch_duration_seconds", "Inference time per batch.", ["model"], LATENCY_BUCKETS
        )
        self.inference_errors = Counter(
            "cotune_inference_errors_total", "Texts whose prediction raised.", ["model"]
        )
        self.queue_depth = Gauge(
            "cotune_queue_depth", "Texts waiting for a batch.", ["model"], source=self._queues
        )
        self._queue_sources: dict[str, Callable[[], int]] = {}
        self.all: list[_Metric] = [
            self.requests,
            self.errors,
            self.latency,
            self.in_flight,
            self.texts,
            self.batch_size,
            self.batch_latency,
            self.inference_errors,
            self.queue_depth,
        ]

    def watch_queue(self, model: str, depth: Callable[[], int]) -> None:
        self._queue_sources[model] = depth

    def _queues(self) -> list[tuple[tuple[str, ...], float]]:
        return [((name,), float(depth())) for name, depth in self._queue_sources.items()]

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.all:
            lines += metric.header() + metric.lines()
        return "\n".join(lines) + "\n"


def _route_label(app: Any, scope: Scope) -> str:
    """The matched route's template (/v1/models/{name}/predict), never the raw path: raw paths
    would let any client create unbounded label values."""
    for route in getattr(app, "routes", ()):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                # FastAPI keeps an included router (an application's mount) whole: the route
                # inside it holds the template
                return _route_label(inner, scope)
            return str(getattr(route, "path", "other"))
    return "other"


class MetricsMiddleware:
    """Outermost ASGI layer: counts every answer, including those of the limit middleware."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics, router: Any) -> None:
        self.app, self.metrics, self.router = app, metrics, router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        route = _route_label(self.router, scope)
        status = 500  # if the app dies before answering, that is what the client sees

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc(amount=1)
        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.in_flight.inc(amount=-1)
            m = self.metrics
            m.requests.inc(route, scope.get("method", ""), str(status))
            if status >= 400:
                m.errors.inc(route, str(status))
            m.latency.observe(time.perf_counter() - start, route)
