"""Small builders shared by the unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotune.config.schema import RunConfig

ASSETS = Path(__file__).resolve().parent.parent / "assets"
NER = ASSETS / "ner_tiny.conll"
CLS = ASSETS / "cls_tiny.jsonl"


def tiny_config(backbone: Path, out: Path, task: str = "ner", **train: Any) -> RunConfig:
    data = NER if task == "ner" else CLS
    return RunConfig(
        task="token-classification" if task == "ner" else "sequence-classification",
        data={"train": data, "dev": data, "test": data},
        model={"backbone": str(backbone), "max_length": 16, "window_context": 2},
        train={"epochs": 2, "batch_size": 2, "lr": 1e-3, "seed": 7, **train},
        output_dir=out,
    )
