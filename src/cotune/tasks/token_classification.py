"""Token classification (NER) at the word level.

Words are sub-tokenised; the label sits on each word's first sub-token (the rest are ignored,
unless `label_all_subtokens`). Sentences longer than the model are cut into windows that each
*own* a run of words and see up to `window_context` sub-tokens of context on either side, so every
word is predicted exactly once and nothing is truncated. Predictions are mapped back to words and
repaired to valid IOB2 (an I-X that continues nothing opens an entity, as the Hugging Face
pipeline's grouping reads it), then scored with seqeval in strict mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2
from transformers import AutoModelForTokenClassification, PreTrainedTokenizerBase

from cotune.config.schema import ModelConfig
from cotune.data.examples import Example, TokenExample
from cotune.data.tagging import split_tag
from cotune.tasks.base import (
    IGNORE,
    Evaluates,
    Feature,
    default_metric,
    model_kwargs,
    pad_batch,
    to_device,
)
from cotune.tasks.words import word_spans


@dataclass(frozen=True)
class WordTags:
    """Prediction for one sentence: a tag and its probability per word."""

    tags: list[str]
    scores: list[float]


@dataclass(frozen=True)
class Entity:
    label: str
    start: int  # character offsets into the input text: text[start:end] is the entity
    end: int
    text: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(self.score, 6),
        }


def repair_iob2(tags: Sequence[str]) -> list[str]:
    """Make a predicted sequence valid IOB2: an I-X not continuing an X entity becomes B-X."""
    out: list[str] = []
    for tag in tags:
        p, t = split_tag(tag)
        if p == "I" and not (out and out[-1] != "O" and split_tag(out[-1])[1] == t):
            tag = f"B-{t}"
        out.append(tag)
    return out


def bio_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Valid IOB2 tags -> [(type, first word, last word + 1)]."""
    spans: list[tuple[str, int, int]] = []
    for k, tag in enumerate(tags):
        p, t = split_tag(tag)
        if p == "B":
            spans.append((t, k, k + 1))
        elif p == "I" and spans and spans[-1][0] == t and spans[-1][2] == k:
            spans[-1] = (t, spans[-1][1], k + 1)
    return spans


class TokenClassification(Evaluates):
    name = "token-classification"

    def __init__(self, labels: list[str], tokenizer: PreTrainedTokenizerBase, cfg: ModelConfig):
        self.labels = labels
        self.label2id = {label: i for i, label in enumerate(labels)}
        self.tokenizer = tokenizer
        self.cfg = cfg
        # with label_all_subtokens, later pieces of a B-X word are labelled I-X
        self._inside_id = {
            i: self.label2id[f"I-{lab[2:]}"]
            for lab, i in self.label2id.items()
            if lab.startswith("B-") and f"I-{lab[2:]}" in self.label2id
        }

    # ------------------------------------------------------------------ encode

    def _word_pieces(self, sentences: Sequence[list[str]]) -> list[list[list[int]]]:
        """Sub-token ids of every word; a word that tokenises to nothing becomes [UNK]."""
        # verbose=False: a sentence longer than the model is windowed below, never indexed whole
        enc = self.tokenizer(
            [list(s) for s in sentences],
            is_split_into_words=True,
            add_special_tokens=False,
            verbose=False,
        )
        unk = self.tokenizer.unk_token_id
        out = []
        for i, words in enumerate(sentences):
            pieces: list[list[int]] = [[] for _ in words]
            for tok, w in zip(enc["input_ids"][i], enc.word_ids(i), strict=True):
                if w is not None:
                    pieces[w].append(tok)
            out.append([p or [unk] for p in pieces])
        return out

    def _windows(
        self, pieces: list[list[int]]
    ) -> tuple[list[list[int]], list[tuple[int, int, int, int]]]:
        """Cut a sentence into windows of (ctx_start, own_start, own_end, ctx_end) words.

        Returns the word pieces too: when windowing, a single word longer than a window's owned
        budget keeps only its first pieces (its label sits on the first one, so it is still
        predicted).
        """
        n, budget = len(pieces), self.cfg.max_length - 2
        if sum(len(p) for p in pieces) <= budget:
            return pieces, [(0, 0, n, n)]
        ctx = min(self.cfg.window_context, budget // 4)
        own_budget = budget - 2 * ctx
        pieces = [p[:own_budget] for p in pieces]
        lengths = [len(p) for p in pieces]
        windows = []
        start = 0
        while start < n:
            end, used = start + 1, lengths[start]
            while end < n and used + lengths[end] <= own_budget:
                used += lengths[end]
                end += 1
            left, left_ctx = start, 0
            while left > 0 and left_ctx + lengths[left - 1] <= ctx:
                left -= 1
                left_ctx += lengths[left]
            right, room = end, budget - used - left_ctx
            while right < n and lengths[right] <= room:
                room -= lengths[right]
                right += 1
            windows.append((left, start, end, right))
            start = end
        return pieces, windows

    def encode(self, examples: Sequence[Example], with_labels: bool = True) -> list[Feature]:
        sentences = [ex.tokens for ex in examples if isinstance(ex, TokenExample)]
        assert len(sentences) == len(examples), "token classification needs TokenExample"
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        features: list[Feature] = []
        for ei, (ex, word_pieces) in enumerate(
            zip(examples, self._word_pieces(sentences), strict=True)
        ):
            assert isinstance(ex, TokenExample)
            pieces, windows = self._windows(word_pieces)
            for left, start, end, right in windows:
                ids, labels, word_index = [cls], [IGNORE], [-1]
                for w in range(left, right):
                    owned = start <= w < end
                    tag_id = self.label2id[ex.tags[w]] if (with_labels and owned) else IGNORE
                    inner_id = self._inside_id.get(tag_id, tag_id)
                    for k, tok in enumerate(pieces[w]):
                        ids.append(tok)
                        later = inner_id if self.cfg.label_all_subtokens else IGNORE
                        labels.append(tag_id if k == 0 else later)
                        word_index.append(w if (owned and k == 0) else -1)
                ids.append(sep)
                labels.append(IGNORE)
                word_index.append(-1)
                features.append(Feature(ids, labels, ei, word_index))
        return features

    def collate(self, features: Sequence[Feature]) -> dict[str, torch.Tensor]:
        return pad_batch(features, self.tokenizer.pad_token_id or 0, "token")

    # ------------------------------------------------------------------ model

    def build_model(self, backbone: Any, cfg: ModelConfig) -> Any:
        return AutoModelForTokenClassification.from_pretrained(
            backbone,
            num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)),
            label2id=self.label2id,
            **model_kwargs(cfg),
        )

    # ------------------------------------------------------------------ decode

    @torch.no_grad()
    def predict(self, model: Any, examples: Sequence[Example], batch_size: int = 64) -> list[Any]:
        """Word-level tags and probabilities for each example."""
        features = self.encode(examples, with_labels=False)
        order = sorted(range(len(features)), key=lambda i: len(features[i]))
        tags: list[list[str]] = [
            ["O"] * len(ex.tokens) for ex in examples if isinstance(ex, TokenExample)
        ]
        scores: list[list[float]] = [[0.0] * len(t) for t in tags]
        was_training = model.training
        model.eval()
        for b in range(0, len(order), batch_size):
            chunk = [features[i] for i in order[b : b + batch_size]]
            batch = to_device(pad_batch(chunk, self.tokenizer.pad_token_id or 0, None), model)
            probs = torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy()
            self._scatter(chunk, probs, tags, scores)
        model.train(was_training)
        return [WordTags(repair_iob2(t), s) for t, s in zip(tags, scores, strict=True)]

    def _scatter(
        self,
        chunk: Sequence[Feature],
        probs: np.ndarray,
        tags: list[list[str]],
        scores: list[list[float]],
    ) -> None:
        for f, p in zip(chunk, probs, strict=False):
            for pos, w in enumerate(f.word_index):
                if w >= 0:
                    k = int(p[pos].argmax())
                    tags[f.example_index][w] = self.labels[k]
                    scores[f.example_index][w] = float(p[pos, k])

    def predict_text(
        self, model: Any, texts: Sequence[str], batch_size: int = 64
    ) -> list[list[Entity]]:
        """Raw text -> entity spans whose offsets slice the text to exactly the entity."""
        spans = [word_spans(t, self.tokenizer) for t in texts]
        examples = [
            TokenExample([t[s:e] for s, e in sp], ["O"] * len(sp))
            for t, sp in zip(texts, spans, strict=True)
        ]
        out = []
        for text, sp, pred in zip(
            texts, spans, self.predict(model, examples, batch_size), strict=True
        ):
            ents = []
            for label, a, b in bio_spans(pred.tags):
                start, end = sp[a][0], sp[b - 1][1]
                score = float(np.mean(pred.scores[a:b]))
                ents.append(Entity(label, start, end, text[start:end], score))
            out.append(ents)
        return out

    # ------------------------------------------------------------------ metrics

    def default_metric(self) -> str:
        return default_metric(self.name)

    def metrics(self, predictions: Sequence[Any], examples: Sequence[Example]) -> dict[str, Any]:
        y_true = [ex.tags for ex in examples if isinstance(ex, TokenExample)]
        y_pred = [p.tags for p in predictions]
        kw: dict[str, Any] = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
        report = classification_report(y_true, y_pred, output_dict=True, **kw)
        per_type = {
            k: {m: float(v[m]) for m in ("precision", "recall", "f1-score", "support")}
            for k, v in report.items()
            if not k.endswith(" avg")
        }
        flat_true = [t for s in y_true for t in s]
        flat_pred = [t for s in y_pred for t in s]
        tag_report = {}
        for tag in self.labels:
            tp = sum(1 for a, b in zip(flat_true, flat_pred, strict=True) if a == b == tag)
            n_pred = flat_pred.count(tag)
            n_true = flat_true.count(tag)
            p = tp / n_pred if n_pred else 0.0
            r = tp / n_true if n_true else 0.0
            tag_report[tag] = {
                "precision": p,
                "recall": r,
                "f1-score": 2 * p * r / (p + r) if p + r else 0.0,
                "support": n_true,
            }
        correct = sum(1 for a, b in zip(flat_true, flat_pred, strict=True) if a == b)
        return {
            "f1": float(f1_score(y_true, y_pred, **kw)),
            "precision": float(precision_score(y_true, y_pred, **kw)),
            "recall": float(recall_score(y_true, y_pred, **kw)),
            "token_accuracy": correct / max(1, len(flat_true)),
            "per_type": per_type,
            "per_tag": tag_report,
            "n_sentences": len(y_true),
            "n_words": len(flat_true),
        }
