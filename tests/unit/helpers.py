"""Small builders shared by the unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cotune.config.schema import RunConfig
from cotune.training.loop import TrainState

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


class Crash(Exception):
    pass


class CrashAt:
    """Simulates a kill right after step `step` (after its checkpoint was written)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state: TrainState, model: torch.nn.Module) -> None:
        if state.step == self.step:
            raise Crash
