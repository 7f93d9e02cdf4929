"""The task model every participant builds the same way: server (to evaluate the global model)
and parties (to train it). Same config + same seed = same frozen weights everywhere, so only
the trainable weights need to travel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from cotune.config.schema import RunConfig
from cotune.data.examples import Example, TextExample, TokenExample
from cotune.errors import DataError
from cotune.federated.exchange import Arrays, load_arrays, trainable_arrays
from cotune.methods import get_method
from cotune.methods.catalog import Method, MethodOptions
from cotune.models.catalog import fingerprint, resolve_backbone
from cotune.tasks import build_task
from cotune.tasks.base import Task
from cotune.training.runtime import resolve_device, seed_everything


@dataclass
class TaskModel:
    task: Task
    model: Any
    method: Method
    options: MethodOptions
    tokenizer: Any
    backbone: Path | str

    def arrays(self) -> Arrays:
        return trainable_arrays(self.model)

    def load(self, arrays: Arrays) -> None:
        load_arrays(self.model, arrays)

    def backbone_fingerprint(self) -> str | None:
        return fingerprint(self.backbone) if Path(str(self.backbone)).exists() else None


def build_task_model(cfg: RunConfig, labels: Sequence[str]) -> TaskModel:
    """Backbone + head for `labels`, with the config's method applied, seeded by train.seed."""
    seed_everything(cfg.train.seed)
    backbone = resolve_backbone(cfg.model.backbone)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    task = build_task(cfg.task, list(labels), tokenizer, cfg.model)
    model: Any = task.build_model(backbone, cfg.model)
    method = get_method(cfg.method.name)
    options = method.parse(cfg.method.options())
    model = method.apply(model, options)
    model.to(resolve_device(cfg.train.device))
    model.eval()
    return TaskModel(task, model, method, options, tokenizer, backbone)


def check_labels(examples: Sequence[Example], labels: Sequence[str], where: str) -> None:
    """A party's data may only use labels the federation's model has (the server fixes them)."""
    known = set(labels)
    for ex in examples:
        wanted = (
            [t for t in ex.tags if t != "O"] if isinstance(ex, TokenExample) else list(ex.labels)
        )
        for lab in wanted:
            if lab not in known:
                raise DataError(
                    f"label {lab!r} is not one of the federation's labels {sorted(known)}",
                    where=ex.origin or where,
                    fix="fix or drop the example, or ask the server to add the label",
                )


def data_kind(examples: Sequence[Example]) -> str:
    if examples and isinstance(examples[0], TextExample):
        return "text"
    return "tokens"
