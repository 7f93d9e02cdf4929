"""Sequence classification: single-label (softmax) and multi-label (sigmoid, thresholded)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, classification_report, f1_score
from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerBase

from cotune.config.schema import ModelConfig
from cotune.data.examples import Example, TextExample
from cotune.tasks.base import Evaluates, Feature, default_metric, model_kwargs, pad_batch, to_device


@dataclass(frozen=True)
class LabelScores:
    """Prediction for one text: chosen label(s) and the probability of every label."""

    labels: list[str]
    probs: dict[str, float]

    def top(self, k: int) -> list[tuple[str, float]]:
        return sorted(self.probs.items(), key=lambda kv: -kv[1])[:k]


class SequenceClassification(Evaluates):
    name = "sequence-classification"

    def __init__(self, labels: list[str], tokenizer: PreTrainedTokenizerBase, cfg: ModelConfig):
        self.labels = labels
        self.label2id = {label: i for i, label in enumerate(labels)}
        self.tokenizer = tokenizer
        self.cfg = cfg
        self.multi_label = cfg.multi_label
        self.threshold = 0.5

    def encode(self, examples: Sequence[Example], with_labels: bool = True) -> list[Feature]:
        texts = [ex.text for ex in examples if isinstance(ex, TextExample)]
        assert len(texts) == len(examples), "sequence classification needs TextExample"
        enc = self.tokenizer(texts, truncation=True, max_length=self.cfg.max_length)
        features = []
        for i, (ex, ids) in enumerate(zip(examples, enc["input_ids"], strict=True)):
            assert isinstance(ex, TextExample)
            label: int | list[float] = 0
            if with_labels and self.multi_label:
                label = [1.0 if lab in ex.labels else 0.0 for lab in self.labels]
            elif with_labels:
                label = self.label2id[ex.labels[0]]
            features.append(Feature(list(ids), label, i))
        return features

    def collate(self, features: Sequence[Feature]) -> dict[str, torch.Tensor]:
        kind = "multi" if self.multi_label else "single"
        return pad_batch(features, self.tokenizer.pad_token_id or 0, kind)

    def build_model(self, backbone: Any, cfg: ModelConfig) -> Any:
        return AutoModelForSequenceClassification.from_pretrained(
            backbone,
            num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)),
            label2id=self.label2id,
            problem_type="multi_label_classification"
            if self.multi_label
            else "single_label_classification",
            **model_kwargs(cfg),
        )

    @torch.no_grad()
    def predict(self, model: Any, examples: Sequence[Example], batch_size: int = 64) -> list[Any]:
        features = self.encode(examples, with_labels=False)
        order = sorted(range(len(features)), key=lambda i: len(features[i]))
        probs = np.zeros((len(features), len(self.labels)), dtype=np.float32)
        was_training = model.training
        model.eval()
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            batch = pad_batch([features[i] for i in idx], self.tokenizer.pad_token_id or 0, None)
            batch = to_device(batch, model)
            logits = model(**batch).logits.float()
            p = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
            probs[idx] = p.cpu().numpy()
        model.train(was_training)
        return [self._decode(p) for p in probs]

    def _decode(self, p: np.ndarray) -> LabelScores:
        scores = {lab: float(v) for lab, v in zip(self.labels, p, strict=True)}
        if self.multi_label:
            chosen = [lab for lab, v in scores.items() if v >= self.threshold]
        else:
            chosen = [self.labels[int(p.argmax())]]
        return LabelScores(chosen, scores)

    def predict_text(self, model: Any, texts: Sequence[str], batch_size: int = 64) -> list[Any]:
        return self.predict(model, [TextExample(t, []) for t in texts], batch_size)

    def default_metric(self) -> str:
        return default_metric(self.name, self.multi_label)

    def metrics(self, predictions: Sequence[Any], examples: Sequence[Example]) -> dict[str, Any]:
        gold = [ex.labels for ex in examples if isinstance(ex, TextExample)]
        if self.multi_label:
            y_true = np.array([[lab in g for lab in self.labels] for g in gold], dtype=int)
            y_pred = np.array(
                [[lab in p.labels for lab in self.labels] for p in predictions], dtype=int
            )
            return {
                "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
                "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
                "subset_accuracy": float(accuracy_score(y_true, y_pred)),
                "per_class": _report(y_true, y_pred, self.labels),
                "n": len(gold),
            }
        t = [g[0] for g in gold]
        p = [pr.labels[0] for pr in predictions]
        return {
            "accuracy": float(accuracy_score(t, p)),
            "macro_f1": float(f1_score(t, p, average="macro", labels=self.labels, zero_division=0)),
            "per_class": _report(t, p, self.labels),
            "confusion": _confusion(t, p, self.labels),
            "n": len(gold),
        }


def _report(y_true: Any, y_pred: Any, labels: list[str]) -> dict[str, dict[str, float]]:
    kw: dict[str, Any] = {"output_dict": True, "zero_division": 0}
    if isinstance(y_true, np.ndarray):
        rep = classification_report(y_true, y_pred, target_names=labels, **kw)
    else:
        rep = classification_report(y_true, y_pred, labels=labels, **kw)
    return {k: {m: float(x) for m, x in v.items()} for k, v in rep.items() if k in labels}


def _confusion(t: list[str], p: list[str], labels: list[str]) -> list[list[int]]:
    idx = {lab: i for i, lab in enumerate(labels)}
    m = [[0] * len(labels) for _ in labels]
    for a, b in zip(t, p, strict=True):
        m[idx[a]][idx[b]] += 1
    return m
