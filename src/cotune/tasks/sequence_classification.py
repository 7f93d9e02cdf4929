"""Sequence classification: single-label (softmax) and multi-label (sigmoid, thresholded).

A text longer than `max_length` sub-tokens is read whole at predict time: it is cut into
windows of `max_length` (special tokens included) that overlap by `window_overlap` sub-tokens,
every window is classified, and the windows' logits are averaged (`long_texts: mean`) or each
label keeps its highest logit (`max`) before the softmax/sigmoid. A text that fits is one
window, so its logits are exactly those of the model on the whole text. Training reads the
first window of each text (what truncation read): one feature per labelled text, so a long
document does not count several times, and no recorded figure moves (docs/long-texts.md).
"""

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
        self._special: tuple[list[int], list[int]] | None = None

    def encode(self, examples: Sequence[Example], with_labels: bool = True) -> list[Feature]:
        """One feature per text: its first window (the text truncated to `max_length`). Training
        and calibration read this; `predict` reads every window (`windows`)."""
        return [
            Feature(windows[0], self._label(ex, with_labels), i)
            for i, (ex, windows) in enumerate(zip(examples, self._cut(examples), strict=True))
        ]

    def windows(self, examples: Sequence[Example]) -> list[Feature]:
        """Every window of every text, unlabelled; `example_index` names the text it reads.
        With `long_texts: truncate`, only the first window of each."""
        first_only = self.cfg.long_texts == "truncate"
        return [
            Feature(ids, 0, i)
            for i, windows in enumerate(self._cut(examples))
            for ids in (windows[:1] if first_only else windows)
        ]

    def _label(self, ex: Example, with_labels: bool) -> int | list[float]:
        assert isinstance(ex, TextExample)
        if with_labels and self.multi_label:
            return [1.0 if lab in ex.labels else 0.0 for lab in self.labels]
        return self.label2id[ex.labels[0]] if with_labels else 0

    def _cut(self, examples: Sequence[Example]) -> list[list[list[int]]]:
        """The model inputs (special tokens added) of each text's windows, in reading order."""
        texts = [ex.text for ex in examples if isinstance(ex, TextExample)]
        assert len(texts) == len(examples), "sequence classification needs TextExample"
        # verbose=False: a text longer than the model is windowed below, never indexed whole
        enc = self.tokenizer(texts, add_special_tokens=False, verbose=False)
        prefix, suffix = self._frame()
        budget = self.cfg.max_length - len(prefix) - len(suffix)
        return [
            [
                prefix + list(ids[a:b]) + suffix
                for a, b in window_bounds(len(ids), budget, self.cfg.window_overlap)
            ]
            for ids in enc["input_ids"]
        ]

    def _frame(self) -> tuple[list[int], list[int]]:
        """The special tokens the tokenizer puts before and after one text ([CLS] / [SEP] for
        BERT), found by encoding a probe with and without them: transformers 5's tokenizers no
        longer expose `build_inputs_with_special_tokens`."""
        if self._special is None:
            bare = self.tokenizer("a", add_special_tokens=False)["input_ids"]
            full = self.tokenizer("a")["input_ids"]
            at = next(
                (k for k in range(len(full) - len(bare) + 1) if full[k : k + len(bare)] == bare),
                None,
            )
            if at is None:  # a tokenizer whose specials change the text's own ids: plain frame
                cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
                self._special = ([cls] if cls is not None else [], [sep] if sep is not None else [])
            else:
                self._special = (list(full[:at]), list(full[at + len(bare) :]))
        return self._special

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
    def window_logits(
        self, model: Any, features: Sequence[Feature], batch_size: int = 64
    ) -> np.ndarray:
        """Logits of each feature, batched by length (less padding), in the features' order."""
        order = sorted(range(len(features)), key=lambda i: len(features[i]))
        logits = np.zeros((len(features), len(self.labels)), dtype=np.float32)
        was_training = model.training
        model.eval()
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            batch = pad_batch([features[i] for i in idx], self.tokenizer.pad_token_id or 0, None)
            logits[idx] = model(**to_device(batch, model)).logits.float().cpu().numpy()
        model.train(was_training)
        return logits

    def predict(self, model: Any, examples: Sequence[Example], batch_size: int = 64) -> list[Any]:
        features = self.windows(examples)
        logits = self.window_logits(model, features, batch_size)
        owner = np.array([f.example_index for f in features], dtype=np.int64)
        text_logits = aggregate_windows(logits, owner, len(examples), self.cfg.long_texts)
        t = torch.from_numpy(text_logits)
        probs = torch.sigmoid(t) if self.multi_label else torch.softmax(t, dim=-1)
        return [self._decode(p) for p in probs.numpy()]

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


def window_bounds(n: int, budget: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) sub-token bounds of the windows over a text of `n` sub-tokens, `budget` per
    window, consecutive ones sharing `overlap` (at most half a window, so the windows advance).
    The last window ends at the text's end and is full-length: a short tail window would
    otherwise count as much as a full one in the average, from a few sub-tokens of evidence."""
    if n <= budget:
        return [(0, n)]
    step = budget - min(overlap, budget // 2)
    starts = [*range(0, n - budget, step), n - budget]
    return [(a, a + budget) for a in starts]


def aggregate_windows(logits: np.ndarray, owner: np.ndarray, n: int, how: str) -> np.ndarray:
    """Per-text logits from per-window ones: the mean or each label's max over the windows of
    each text (`owner[i]` = the text window i reads); a one-window text keeps its logits."""
    out = np.zeros((n, logits.shape[1]), dtype=np.float32)
    if how == "max":
        out[:] = -np.inf
        np.maximum.at(out, owner, logits)
        return out
    np.add.at(out, owner, logits)
    counts = np.bincount(owner, minlength=n).astype(np.float32)
    return out / counts[:, None]


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
