"""Retrieve, then rank: candidates from the text index (and from the collaborative model), re-
ranked by a logistic model over a few features of (user, item).

Features: the two-tower text score, the ALS (collaborative) score, log popularity, log recent
popularity (the last tenth of the training period), genre overlap with the history, the gap
between the item's year and the history's mean year, and a flag for an item nobody chose in
training. The model is fitted on the dev targets (warm and cold) against their candidates, and
is saved as plain numbers (JSON): loading it runs no pickled code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cotune.data.interactions import Item

FEATURES = ["text", "cf", "popularity", "recent", "genre_overlap", "year_gap", "cold"]


@dataclass
class ItemStats:
    """Per-item facts the features read, in catalog order."""

    popularity: np.ndarray  # training interactions
    recent: np.ndarray  # training interactions in the last tenth of the training period
    tags: list[tuple[str, ...]]
    years: np.ndarray  # nan where unknown

    @classmethod
    def build(
        cls,
        items: Sequence[str],
        catalog: dict[str, Item],
        train: dict[str, list[str]],
        train_ts: dict[str, list[float]],
    ) -> ItemStats:
        idx = {item: i for i, item in enumerate(items)}
        pop = np.zeros(len(items))
        recent = np.zeros(len(items))
        stamps = [t for ts in train_ts.values() for t in ts]
        cutoff = np.quantile(stamps, 0.9) if stamps else 0.0
        for user, seq in train.items():
            for item, ts in zip(seq, train_ts[user], strict=True):
                pop[idx[item]] += 1
                recent[idx[item]] += ts >= cutoff
        years = np.array(
            [np.nan if catalog[i].year is None else catalog[i].year for i in items],
            dtype=np.float64,
        )
        return cls(pop, recent, [catalog[i].tags for i in items], years)

    def to_json(self) -> dict[str, Any]:
        return {"popularity": self.popularity.tolist(), "recent": self.recent.tolist()}


def features(
    history_rows: Sequence[int],
    candidates: np.ndarray,
    text: np.ndarray,
    cf: np.ndarray,
    stats: ItemStats,
) -> np.ndarray:
    """(len(candidates), len(FEATURES)) for one user; `text`/`cf` are full catalog rows."""
    share: dict[str, float] = {}
    for r in history_rows:
        for tag in stats.tags[r]:
            share[tag] = share.get(tag, 0.0) + 1.0 / max(1, len(history_rows))
    genre = np.array(
        [
            np.mean([share.get(t, 0.0) for t in stats.tags[c]]) if stats.tags[c] else 0.0
            for c in candidates
        ]
    )
    years = stats.years[list(history_rows)] if len(history_rows) else np.array([np.nan])
    mean_year = np.nanmean(years) if np.isfinite(years).any() else np.nan
    gap = np.abs(stats.years[candidates] - mean_year) / 10.0
    return np.column_stack(
        [
            text[candidates],
            cf[candidates],
            np.log1p(stats.popularity[candidates]),
            np.log1p(stats.recent[candidates]),
            genre,
            np.nan_to_num(gap, nan=0.0),
            (stats.popularity[candidates] == 0).astype(np.float64),
        ]
    )


def candidates(text: np.ndarray, cf: np.ndarray, pool: np.ndarray, n: int) -> np.ndarray:
    """The top-n pool items by text score, joined by the top-n by collaborative score among
    those it scores at all (items never trained on have none)."""
    by_text = pool[np.argsort(-text[pool], kind="stable")[:n]]
    scored = pool[cf[pool] != 0]
    by_cf = scored[np.argsort(-cf[scored], kind="stable")[:n]]
    return np.union1d(by_text, by_cf)


@dataclass
class Reranker:
    """Standardised features -> logistic score."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return out

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, seed: int = 0) -> Reranker:
        from sklearn.linear_model import LogisticRegression

        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
        model = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
        model.fit((x - mean) / scale, y)
        return cls(mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]))

    def to_json(self) -> dict[str, Any]:
        return {
            "features": FEATURES,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Reranker:
        if raw.get("features") != FEATURES:
            raise ValueError(f"features {raw.get('features')} are not {FEATURES}")
        return cls(
            np.array(raw["mean"]),
            np.array(raw["scale"]),
            np.array(raw["coef"]),
            float(raw["intercept"]),
        )


def final_scores(text: np.ndarray, ranked: np.ndarray, rerank_scores: np.ndarray) -> np.ndarray:
    """A full catalog row: the re-ranked candidates above every other item (those keep their
    text order below), so a full-ranking metric sees the pipeline's actual order."""
    out = np.clip(text, -1.0, 1.0).astype(np.float64) - 3.0
    out[ranked] = 1.0 / (1.0 + np.exp(-rerank_scores))
    return out
