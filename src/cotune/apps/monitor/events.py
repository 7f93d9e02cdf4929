"""Events in: `{"id"?, "ts", "text", "topic"?, "lang"?, "source"?}`, checked one by one.

A bad event never stops a stream: it is refused with the reason (and its line, for files) and
the rest flows on. An event without an id gets a natural one, the hash of ts + text + source, so
the same item delivered twice is stored once.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_ID_CHARS = 200
# event times outside these years are almost surely a unit mistake (ms read as s, or the reverse)
MIN_TS = datetime(1990, 1, 1, tzinfo=UTC).timestamp()
MAX_TS = datetime(2200, 1, 1, tzinfo=UTC).timestamp()


@dataclass
class Event:
    id: str
    ts: float  # seconds since the epoch, UTC
    text: str
    topic: str | None = None
    lang: str | None = None
    source: str | None = None
    truncated: bool = False


@dataclass
class Refused:
    """An input that is not an event, with where it came from and why."""

    where: str
    reason: str


@dataclass
class Parsed:
    events: list[Event] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def natural_id(ts: float, text: str, source: str | None) -> str:
    digest = hashlib.sha256(f"{ts!r}\x1f{text}\x1f{source or ''}".encode()).hexdigest()
    return "h:" + digest[:32]


def parse_ts(value: Any) -> float:
    """ISO 8601 (a naive time is UTC) or epoch seconds (milliseconds refused with the fix)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"ts must be an ISO 8601 time or epoch seconds, got {value!r}")
    if isinstance(value, int | float):
        ts = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            ts = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"ts {value!r} is not an ISO 8601 time (2026-12-03T14:05:00Z) nor epoch seconds"
                ) from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            ts = parsed.timestamp()
    else:
        raise ValueError(f"ts must be an ISO 8601 time or epoch seconds, got {value!r}")
    if not math.isfinite(ts) or not MIN_TS <= ts <= MAX_TS:
        hint = " (milliseconds? divide by 1000)" if math.isfinite(ts) and ts > MAX_TS else ""
        raise ValueError(f"ts {value!r} is outside 1990..2200{hint}")
    return ts


def _optional_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {value!r}")
    value = value.strip()
    return value or None


def event_from(obj: Any, max_chars: int) -> Event:
    """One event from a decoded JSON value; ValueError says what is wrong with it."""
    if not isinstance(obj, dict):
        raise ValueError(f"an event is a JSON object, got {type(obj).__name__}")
    if "text" not in obj:
        raise ValueError("missing text")
    if "ts" not in obj:
        raise ValueError("missing ts")
    text = obj["text"]
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {text!r}")
    if not text.strip():
        raise ValueError("text is empty")
    ts = parse_ts(obj["ts"])
    source = _optional_str(obj, "source")
    truncated = len(text) > max_chars
    if truncated:
        text = text[:max_chars]
    raw_id = obj.get("id")
    if raw_id is None or raw_id == "":
        event_id = natural_id(ts, text, source)
    elif isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
        event_id = str(raw_id)
        if len(event_id) > MAX_ID_CHARS:
            raise ValueError(f"id is longer than {MAX_ID_CHARS} characters")
    else:
        raise ValueError(f"id must be a string or integer, got {raw_id!r}")
    return Event(
        id=event_id,
        ts=ts,
        text=text,
        topic=_optional_str(obj, "topic"),
        lang=_optional_str(obj, "lang"),
        source=source,
        truncated=truncated,
    )


def parse_line(raw: bytes | str, where: str, max_chars: int) -> Event | Refused | None:
    """One JSONL line: an event, a refusal naming `where`, or None for a blank line."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            return Refused(where, f"not valid UTF-8 (byte {e.start}); re-encode the line as UTF-8")
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        return Refused(where, f"not valid JSON: {e.msg} (column {e.colno})")
    try:
        return event_from(obj, max_chars)
    except ValueError as e:
        return Refused(where, str(e))


def parse_lines(lines: Iterator[bytes], name: str, max_chars: int, start: int = 1) -> Parsed:
    out = Parsed()
    for lineno, raw in enumerate(lines, start=start):
        item = parse_line(raw.rstrip(b"\r\n"), f"{name}:{lineno}", max_chars)
        if isinstance(item, Event):
            out.events.append(item)
        elif isinstance(item, Refused):
            out.refused.append(item)
    return out


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
