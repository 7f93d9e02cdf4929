"""Redis Streams with a consumer group against a real `redis-server` on loopback: two workers
share one stream and store every event exactly once under redelivery; a dead worker's pending
entries are taken over; a poison message goes to the dead-letter stream."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from cotune.apps.monitor.config import SourceConfig
from cotune.apps.monitor.engine import Monitor
from cotune.apps.monitor.sources import RedisSource

from .monitor_helpers import monitor_config, sentiment_artifact, stream

STREAM = "news"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory, tiny_backbone: Path) -> Path:
    return sentiment_artifact(tmp_path_factory, tiny_backbone)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server on a free loopback port, persistence off, stopped after the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, (
                    "redis-server did not start"
                )
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def source(url: str, consumer: str, idle: float = 30.0) -> SourceConfig:
    return SourceConfig(
        type="redis",
        redis_url=url,
        stream=STREAM,
        consumer=consumer,
        claim_idle_s=idle,
        block_ms=100,
    )


def run_workers(
    workers: list[tuple[Monitor, RedisSource]], done: Callable[[], bool], timeout: float = 120
) -> None:
    stop = threading.Event()
    threads = [
        threading.Thread(target=src.run, args=(mon, stop), daemon=True) for mon, src in workers
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(30)
    assert done(), "the workers did not finish in time"


def test_two_workers_store_each_event_once_under_redelivery(
    artifact: Path, tmp_path: Path, redis_url: str
) -> None:
    cfg = monitor_config(tmp_path, artifact)
    rows = stream(180, surge=(100, 115))
    r = redis.Redis.from_url(redis_url)
    workers = []
    for name in ("w1", "w2"):
        src = RedisSource(source(redis_url, name), 64, 5000)  # creates the group before any XADD
        workers.append((Monitor(cfg), src))
    for i, row in enumerate(rows):
        r.xadd(STREAM, {"event": json.dumps(row)})
        if i % 7 == 0:  # a producer retrying: the same event delivered twice
            r.xadd(STREAM, {"event": json.dumps(row)})
    r.xadd(STREAM, {"event": "{not json"})
    r.xadd(STREAM, {"ts": str(rows[0]["ts"]), "text": "plain fields work too", "topic": "rates"})
    store = workers[0][0].store

    def drained() -> bool:
        return (
            store.count() == len(rows) + 1 and r.xpending(STREAM, "cotune-monitor")["pending"] == 0
        )

    run_workers(workers, drained)
    assert store.count() == len(rows) + 1
    consumers = {c["name"].decode(): c for c in r.xinfo_consumers(STREAM, "cotune-monitor")}
    assert set(consumers) == {"w1", "w2"}
    alerts = store.alerts()
    assert len(alerts) == 1 and alerts[0]["name"] == "rates"
    dead = r.xrange(f"{STREAM}:refused")
    assert len(dead) == 1 and b"'event' is not valid JSON" in dead[0][1][b"reason"]


def test_a_dead_workers_pending_entries_are_taken_over(
    artifact: Path, tmp_path: Path, redis_url: str
) -> None:
    cfg = monitor_config(tmp_path, artifact)
    rows = stream(10)
    live = RedisSource(source(redis_url, "live", idle=0.5), 64, 5000)
    r = redis.Redis.from_url(redis_url)
    for row in rows:
        r.xadd(STREAM, {"event": json.dumps(row)})
    # a worker reads a batch and dies before storing or acknowledging it
    taken = r.xreadgroup("cotune-monitor", "dead", {STREAM: ">"}, count=50)
    assert len(taken[0][1]) == 50
    assert r.xpending(STREAM, "cotune-monitor")["pending"] == 50
    monitor = Monitor(cfg)

    def drained() -> bool:
        return (
            monitor.store.count() == len(rows)
            and r.xpending(STREAM, "cotune-monitor")["pending"] == 0
        )

    run_workers([(monitor, live)], drained)
    assert monitor.store.count() == len(rows)


def test_unreachable_redis_is_a_config_error() -> None:
    from cotune.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot reach Redis"):
        RedisSource(source("redis://127.0.0.1:1/0", "x"), 64, 5000)
