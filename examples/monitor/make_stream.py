"""Writes examples/monitor/stream.jsonl: a demo stream for `cotune monitor replay`, built from
cotune's own financial sentences (examples/finance-sentiment): 5 hours, one event every 4 s
on average, topics "banks" and "industry", 20% negative, and a surge in "banks" (60% negative)
from 03:30 to 04:15. Deterministic (seed 23).

    .venv/bin/python examples/monitor/make_stream.py
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIN = HERE.parent / "finance-sentiment"


def main() -> None:
    rng = random.Random(23)
    rows = [
        json.loads(x)
        for name in ("train", "test")
        for x in (FIN / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    english = [r for r in rows if r["lang"] == "en"]
    negative = [r["text"] for r in english if r["label"] == "negative"]
    other = [r["text"] for r in english if r["label"] != "negative"]
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC).timestamp()
    t, i, out = start, 0, []
    while t < start + 5 * 3600:
        t += rng.expovariate(1 / 4)
        topic = rng.choice(["banks", "industry"])
        surge = topic == "banks" and start + 3.5 * 3600 <= t < start + 4.25 * 3600
        text = rng.choice(negative if rng.random() < (0.6 if surge else 0.2) else other)
        ts = datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        out.append({"id": f"demo-{i}", "ts": ts, "text": text, "topic": topic, "source": "demo"})
        i += 1
    (HERE / "stream.jsonl").write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
    print(len(out), "events")


if __name__ == "__main__":
    main()
