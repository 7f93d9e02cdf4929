"""What the monitor tests share: a tiny sentiment artifact trained in code (once per session,
kept on disk), the texts it reads as negative and positive, streams with a surge, configs."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from cotune.apps.monitor.config import MonitorConfig

from .helpers import tiny_config

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z: a 5-minute window boundary
NEG = [
    "a terrible film",
    "bad movie , awful",
    "awful terrible bad",
    "he hates the film",
    "this movie was bad",
    "we hates that film",
]
POS = [
    "a great film , i loves it",
    "good movie and great city",
    "great great good",
    "she loves the film",
    "they likes this movie",
    "fine film , good today",
]


def sentiment_artifact(tmp_path_factory: pytest.TempPathFactory, tiny_backbone: Path) -> Path:
    """pos/neg classifier over the tiny BERT; trained once and reused by every monitor module."""
    from cotune.artifact import load_artifact
    from cotune.recipes.finetune import finetune

    root = tmp_path_factory.getbasetemp() / "monitor-sentiment"
    done = root / "path.txt"
    if done.is_file():
        return Path(done.read_text())
    cfg = tiny_config(tiny_backbone, root, "cls", epochs=20, lr=5e-3)
    folder = Path(finetune(cfg, progress=False))
    predictor = load_artifact(folder)
    got = [p.labels[0] for p in predictor.predict_text(NEG + POS)]
    assert got == ["neg"] * len(NEG) + ["pos"] * len(POS), got  # the tests rely on this
    done.write_text(str(folder))
    return folder


def monitor_config(folder: Path, artifact: Path, **sections: Any) -> MonitorConfig:
    raw: dict[str, Any] = {
        "name": "m",
        "models": {"sentiment": str(artifact), "batch_size": 64},
        "detector": {"window_minutes": 5, "min_volume": 10, "warmup_windows": 4},
        "events": {"lateness_minutes": 0},
        "alerts": {"sinks": []},
    }
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = MonitorConfig.model_validate(raw)
    cfg.folder = folder
    return cfg


def stream(
    minutes: int,
    *,
    per_minute: int = 12,
    base: float = 0.2,
    surge: tuple[int, int] | None = None,
    surge_share: float = 0.8,
    topic: str | None = "rates",
    seed: int = 0,
    t0: float = T0,
) -> list[dict[str, Any]]:
    """Events every 60/per_minute s; negatives drawn at `base`, at `surge_share` inside the
    surge's [start, end) minutes."""
    rng = random.Random(seed)
    out = []
    for i in range(minutes * per_minute):
        minute = i // per_minute
        inside = surge is not None and surge[0] <= minute < surge[1]
        negative = rng.random() < (surge_share if inside else base)
        event: dict[str, Any] = {
            "id": f"e{seed}-{i}",
            "ts": t0 + i * 60.0 / per_minute,
            "text": rng.choice(NEG if negative else POS),
            "source": "test",
        }
        if topic is not None:
            event["topic"] = topic
        out.append(event)
    return out
