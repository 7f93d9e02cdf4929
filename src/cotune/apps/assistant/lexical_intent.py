"""A character n-gram intent classifier, mixed with the fine-tuned model's probabilities.

Why: the only encoders available offline are English (minilm-l6 holds 244 CJK characters), so
with a few dozen Chinese utterances per intent the fine-tuned model stays weak in Chinese even
with the vocabulary extended; the characters a query shares with the training utterances carry
what it lacks. TF-IDF over character 1-3-grams (words in English, characters and their pairs in
Chinese, no segmenter) + logistic regression, fitted on the same training utterances.

The weight of this member is chosen at build time on dev (`choose_weight`), by the in-scope
accuracy left at the out-of-scope target, so an assistant whose model is already strong keeps
weight 0. The member is refitted from `intent_lexical.jsonl` when the folder is loaded (well
under a second for thousands of utterances): the folder holds text, not a pickle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

FILE = "intent_lexical.jsonl"
WEIGHTS = (0.0, 0.25, 0.5, 0.75)
C = 30.0  # weak regularisation: a few examples per intent, sparse features


class LexicalIntents:
    def __init__(self, texts: Sequence[str], intents: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.texts, self.intents = list(texts), list(intents)
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
        features = self.vectorizer.fit_transform(self.texts)
        self.model = LogisticRegression(C=C, max_iter=3000).fit(features, self.intents)

    def probs(self, texts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
        """(n, len(labels)) probabilities in the order of `labels` (0 for an intent it lacks)."""
        got = self.model.predict_proba(self.vectorizer.transform(list(texts)))
        column = {label: i for i, label in enumerate(self.model.classes_)}
        out = np.zeros((len(texts), len(labels)))
        for j, label in enumerate(labels):
            if label in column:
                out[:, j] = got[:, column[label]]
        return out

    def save(self, folder: Path) -> None:
        with (folder / FILE).open("w", encoding="utf-8") as f:
            for text, intent in zip(self.texts, self.intents, strict=True):
                f.write(json.dumps({"text": text, "intent": intent}, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, folder: Path) -> LexicalIntents | None:
        path = folder / FILE
        if not path.is_file():
            return None
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return cls([r["text"] for r in rows], [r["intent"] for r in rows])


def mix(model: np.ndarray, lexical: np.ndarray | None, weight: float) -> np.ndarray:
    """(1 - weight) * the model's probabilities + weight * the lexical member's."""
    if lexical is None or weight == 0:
        return model
    return (1 - weight) * model + weight * lexical


def choose_weight(
    score_at: Callable[[float], float], weights: Sequence[float] = WEIGHTS
) -> tuple[float, dict[float, float]]:
    """The weight whose dev figure `score_at(weight)` is highest (the smallest on ties), and
    every weight's figure."""
    figures = {w: score_at(w) for w in weights}
    best = max(weights, key=lambda w: (figures[w], -w))
    return best, figures
