"""Load an artifact folder back into a ready-to-use predictor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from cotune.artifact.meta import ArtifactMeta
from cotune.config.schema import ModelConfig
from cotune.data.examples import Example
from cotune.methods import get_method
from cotune.tasks import Task, build_task


@dataclass
class Predictor:
    """A loaded artifact: task + model + tokenizer, with predict/evaluate helpers."""

    folder: Path
    meta: ArtifactMeta
    task: Task
    model: Any
    tokenizer: Any

    def predict_text(self, texts: Sequence[str], batch_size: int = 64) -> list[Any]:
        return self.task.predict_text(self.model, list(texts), batch_size)

    def predict(self, examples: Sequence[Example], batch_size: int = 64) -> list[Any]:
        return self.task.predict(self.model, examples, batch_size)

    def evaluate(self, examples: Sequence[Example], batch_size: int = 64) -> dict[str, Any]:
        return self.task.metrics(self.predict(examples, batch_size), examples)


def load_artifact(folder: str | Path) -> Predictor:
    folder = Path(folder)
    meta = ArtifactMeta.read(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    mcfg = ModelConfig(**meta.model_config)
    task = build_task(meta.task, meta.labels, tokenizer, mcfg)
    method = get_method(meta.method.get("name", "full"))
    if method.load is not None:
        model = method.load(folder, lambda backbone: task.build_model(backbone, mcfg))
    else:
        model = task.build_model(folder, mcfg)
    model.eval()
    return Predictor(folder, meta, task, model, tokenizer)
