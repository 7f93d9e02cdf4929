"""Every config in configs/ loads and runs one step (on the tiny model, a few examples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotune.config import load_config
from cotune.federated.config import is_federated_config
from cotune.recipes.finetune import finetune

# federated configs (a `federation:` section) run a round in tests/unit/test_federated_split.py
CONFIGS = [
    p
    for p in sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
    if not is_federated_config(p)
]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_runs_a_step(path: Path, tiny_backbone: Path, tmp_path: Path) -> None:
    cfg = load_config(
        path,
        {
            "model.backbone": str(tiny_backbone),
            "data.limit": 8,
            "train.max_steps": 1,
            "train.batch_size": 4,
            "output_dir": str(tmp_path),
        },
    )
    out = finetune(cfg, progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["steps"] == 1
    assert metrics["test"]


def test_there_are_configs_for_each_shipped_source() -> None:
    sources = {load_config(p).data.source for p in CONFIGS}
    assert {"wnut16", "rt-polarity", "peoples-daily-1998", "chnsenti"} <= sources
