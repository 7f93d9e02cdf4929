"""The Task protocol shared by token and sequence classification."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from transformers import PreTrainedModel

from cotune.config.schema import ModelConfig
from cotune.data.examples import Example

IGNORE = -100  # label id that the loss skips (PyTorch's CrossEntropyLoss default)


@dataclass
class Feature:
    """One model input row. NER sentences longer than the model become several features."""

    input_ids: list[int]
    labels: list[int] | list[float] | int
    example_index: int
    # NER: for each position, the index of the word it predicts (first sub-token of an owned
    # word), else -1. Empty for classification.
    word_index: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)


class Task(Protocol):
    name: str
    labels: list[str]

    def encode(self, examples: Sequence[Example], with_labels: bool = True) -> list[Feature]: ...

    def collate(self, features: Sequence[Feature]) -> dict[str, torch.Tensor]: ...

    def build_model(self, backbone: Any, cfg: ModelConfig) -> PreTrainedModel: ...

    def predict(
        self, model: Any, examples: Sequence[Example], batch_size: int = 64
    ) -> list[Any]: ...

    def predict_text(self, model: Any, texts: Sequence[str], batch_size: int = 64) -> list[Any]: ...

    def metrics(
        self, predictions: Sequence[Any], examples: Sequence[Example]
    ) -> dict[str, Any]: ...

    def default_metric(self) -> str:
        """The dev metric a run selects on unless `train.metric` names another."""
        ...

    def evaluate(
        self, model: Any, examples: Sequence[Example], batch_size: int = 64
    ) -> dict[str, Any]: ...


def default_metric(task_name: str, multi_label: bool = False) -> str:
    """The dev metric a run of this task selects on unless `train.metric` names another: decided
    here once, for the recipes, the search, the export gate and federated rounds alike."""
    if task_name == "token-classification":
        return "f1"
    return "micro_f1" if multi_label else "accuracy"


class Evaluates:
    """`evaluate` = predict, then score: the one way every caller (the loop's dev evaluation, the
    final dev/test scores, the export gate, federated rounds) computes a task's metrics."""

    def evaluate(
        self, model: Any, examples: Sequence[Example], batch_size: int = 64
    ) -> dict[str, Any]:
        task: Any = self
        return task.metrics(task.predict(model, examples, batch_size), examples)


def pad_batch(
    features: Sequence[Feature], pad_id: int, label_kind: str | None
) -> dict[str, torch.Tensor]:
    """Dynamic padding: pad to the longest row of this batch only.

    `label_kind`: "token" (one label per position, -100 padded), "single" (one class id),
    "multi" (multi-hot floats) or None (no labels, for prediction).
    """
    width = max(len(f) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for i, f in enumerate(features):
        ids[i, : len(f)] = torch.tensor(f.input_ids)
        mask[i, : len(f)] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if label_kind == "token":
        labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
        for i, f in enumerate(features):
            labels[i, : len(f)] = torch.tensor(f.labels)
        batch["labels"] = labels
    elif label_kind == "multi":
        batch["labels"] = torch.tensor([f.labels for f in features], dtype=torch.float)
    elif label_kind == "single":
        batch["labels"] = torch.tensor([f.labels for f in features], dtype=torch.long)
    return batch


def to_device(batch: dict[str, torch.Tensor], model: Any) -> dict[str, torch.Tensor]:
    """Move a batch to where the model's weights are (CPU unless trained on a GPU)."""
    device = next(model.parameters()).device
    return batch if device.type == "cpu" else {k: v.to(device) for k, v in batch.items()}


def model_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    """Dropout overrides as BERT-family config attributes."""
    out: dict[str, Any] = {}
    if cfg.hidden_dropout is not None:
        out["hidden_dropout_prob"] = cfg.hidden_dropout
    if cfg.attention_dropout is not None:
        out["attention_probs_dropout_prob"] = cfg.attention_dropout
    if cfg.classifier_dropout is not None:
        out["classifier_dropout"] = cfg.classifier_dropout
    return out
