"""Event sources: a JSONL file (replayed by its timestamps, or followed as it grows), stdin, and
Redis Streams with a consumer group. Each reads a batch, hands it to `Monitor.ingest` and only
then acknowledges it, so delivery is at-least-once and the store's ids make it exactly-once.

Redis: several workers share one stream through one consumer group; entries a dead worker
read but never acknowledged are taken over after `claim_idle_s` (XAUTOCLAIM). An entry that is
not an event is acknowledged and copied, with the reason, to the dead-letter stream
`<stream>:refused`, so a poison message neither blocks the group nor disappears.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from cotune.apps.monitor.config import SourceConfig
from cotune.apps.monitor.engine import IngestResult, Monitor
from cotune.apps.monitor.events import Event, Refused, event_from, parse_line
from cotune.errors import ConfigError, DataError

log = logging.getLogger("cotune.monitor.sources")
OnRefused = Callable[[Refused], None]


def _log_refused(r: Refused) -> None:
    log.warning("refused %s: %s", r.where, r.reason)


def read_batches(
    stream: IO[bytes],
    name: str,
    batch: int,
    max_chars: int,
    on_refused: OnRefused,
    follow: Callable[[], bool] | None = None,
) -> Iterator[list[Event]]:
    """Batches of events from JSONL bytes. With `follow`, waits for more at EOF while it says
    so; a last line without its newline is held until the writer completes it."""
    lineno, pending = 0, b""
    buffer: list[Event] = []
    while True:
        chunk = stream.readline()
        if not chunk:
            if buffer:
                yield buffer
                buffer = []
            if follow is None or not follow():
                break
            time.sleep(0.2)
            continue
        pending += chunk
        if not pending.endswith(b"\n") and follow is not None:
            continue
        line, pending = pending, b""
        lineno += 1
        item = parse_line(line.rstrip(b"\r\n"), f"{name}:{lineno}", max_chars)
        if isinstance(item, Refused):
            on_refused(item)
        elif item is not None:
            buffer.append(item)
            if len(buffer) >= batch:
                yield buffer
                buffer = []
    if pending.strip():  # the file ended inside a line
        item = parse_line(pending, f"{name}:{lineno + 1}", max_chars)
        if isinstance(item, Refused):
            on_refused(item)
        elif item is not None:
            yield [item]


def paced(batches: Iterator[list[Event]], speed: float) -> Iterator[list[Event]]:
    """Release events on their own clock, `speed` times real time (0: no waiting)."""
    if speed <= 0:
        yield from batches
        return
    start_wall, start_ts = time.monotonic(), None
    for batch in batches:
        out: list[Event] = []
        for e in batch:
            start_ts = e.ts if start_ts is None else start_ts
            delay = (e.ts - start_ts) / speed - (time.monotonic() - start_wall)
            if delay > 0:
                if out:
                    yield out
                    out = []
                time.sleep(delay)
            out.append(e)
        if out:
            yield out


def run_file(
    monitor: Monitor,
    path: Path,
    *,
    follow: bool,
    speed: float,
    stop: threading.Event,
    on_refused: OnRefused = _log_refused,
    on_batch: Callable[[IngestResult], None] | None = None,
) -> IngestResult:
    if not path.is_file():
        raise DataError("no such events file", where=str(path), fix="check source.path")
    total = IngestResult()
    with path.open("rb") as f:
        batches = read_batches(
            f,
            str(path),
            monitor.cfg.models.batch_size * 4,
            monitor.cfg.events.max_text_chars,
            on_refused,
            (lambda: not stop.is_set()) if follow else None,
        )
        for batch in paced(batches, speed):
            result = monitor.ingest(batch)
            total += result
            if on_batch:
                on_batch(result)
            if stop.is_set():
                break
    return total


def run_stdin(
    monitor: Monitor, stop: threading.Event, on_refused: OnRefused = _log_refused
) -> IngestResult:
    total = IngestResult()
    # small batches: a person or a pipe feeding stdin expects each line to be seen promptly
    for batch in read_batches(
        sys.stdin.buffer, "<stdin>", 16, monitor.cfg.events.max_text_chars, on_refused
    ):
        total += monitor.ingest(batch)
        if stop.is_set():
            break
    return total


class RedisSource:
    """One worker of a consumer group on a Redis stream."""

    def __init__(self, cfg: SourceConfig, batch: int, max_chars: int) -> None:
        import redis

        self.cfg, self.batch, self.max_chars = cfg, batch, max_chars
        self.consumer = cfg.consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.redis = redis.Redis.from_url(cfg.redis_url)
        try:
            self.redis.xgroup_create(cfg.stream, cfg.group, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        except redis.ConnectionError as e:
            raise ConfigError(
                f"cannot reach Redis at {cfg.redis_url}: {e}",
                where="source.redis_url",
                fix="start redis-server or correct the URL",
            ) from None

    def read(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Stale entries of dead workers first, then new ones (blocking up to block_ms)."""
        claimed = self.redis.xautoclaim(
            self.cfg.stream,
            self.cfg.group,
            self.consumer,
            min_idle_time=int(self.cfg.claim_idle_s * 1000),
            start_id="0-0",
            count=self.batch,
        )
        entries = [e for e in claimed[1] if e and e[1] is not None]
        if entries:
            return entries
        answer = self.redis.xreadgroup(
            self.cfg.group,
            self.consumer,
            {self.cfg.stream: ">"},
            count=self.batch,
            block=self.cfg.block_ms,
        )
        return list(answer[0][1]) if answer else []  # type: ignore[index,arg-type]

    def parse(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]]
    ) -> tuple[list[Event], list[Refused]]:
        good, bad = [], []
        for entry_id, fields in entries:
            where = f"redis {self.cfg.stream} {entry_id.decode()}"
            try:
                if b"event" in fields:
                    obj: Any = json.loads(fields[b"event"].decode("utf-8"))
                else:
                    obj = {k.decode("utf-8"): v.decode("utf-8") for k, v in fields.items()}
                good.append(event_from(obj, self.max_chars))
            except json.JSONDecodeError as e:
                bad.append(Refused(where, f"field 'event' is not valid JSON: {e.msg}"))
            except UnicodeDecodeError as e:
                bad.append(Refused(where, f"not valid UTF-8 (byte {e.start})"))
            except ValueError as e:
                bad.append(Refused(where, str(e)))
        return good, bad

    def run(
        self, monitor: Monitor, stop: threading.Event, on_refused: OnRefused = _log_refused
    ) -> IngestResult:
        total = IngestResult()
        while not stop.is_set():
            entries = self.read()
            if not entries:
                continue
            events, refused = self.parse(entries)
            total += monitor.ingest(events)  # committed before the acknowledgement below
            for r in refused:
                on_refused(r)
                self.redis.xadd(
                    f"{self.cfg.stream}:refused", {"where": r.where, "reason": r.reason}
                )
            self.redis.xack(self.cfg.stream, self.cfg.group, *[e[0] for e in entries])
        return total

    def close(self) -> None:
        self.redis.close()
