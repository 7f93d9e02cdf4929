"""Pieces every training recipe shares, so their numbers are computed one way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cotune.data.examples import Example
from cotune.data.stats import words_of
from cotune.tasks.base import Feature
from cotune.training.loop import FitResult


def feature_words(features: Sequence[Feature], examples: Sequence[Example]) -> list[int]:
    """Words each feature trains on (owned words of an NER window, words of a text): words/s."""
    return [
        sum(1 for w in f.word_index if w >= 0)
        if f.word_index
        else words_of(examples[f.example_index])
        for f in features
    ]


def training_summary(
    result: FitResult, metric: str, params: dict[str, float], n_features: int, n_examples: int
) -> dict[str, Any]:
    """metrics.json's `training` section."""
    st = result.state
    return {
        "metric": metric,
        "best_dev": st.best_metric,
        "best_step": st.best_step,
        "steps": st.step,
        "epochs": round(result.epochs, 4),
        "stopped_early": st.stopped_early,
        "train_seconds": round(st.train_seconds, 3),
        "seconds_per_epoch": round(st.train_seconds / max(result.epochs, 1e-9), 3),
        "train_words": st.train_words,
        "words_per_s": round(result.words_per_second, 2),
        "params_total": params["total"],
        "params_trainable": params["trainable"],
        "trainable_pct": round(params["trainable_pct"], 4),
        "train_features": n_features,
        "train_examples": n_examples,
    }
