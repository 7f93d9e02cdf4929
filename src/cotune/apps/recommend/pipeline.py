"""The hybrid pipeline as one scorer: two-tower retrieval + ALS candidates, re-ranked.

`HybridScorer.score` ranks, for each history, every item the history does not hold, exactly as
the served recommender does (it does not know which items an evaluation will count), so the
metrics measure what users get.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cotune.apps.recommend.baselines import item_index
from cotune.apps.recommend.rerank import (
    ItemStats,
    Reranker,
    candidates,
    features,
    final_scores,
)
from cotune.apps.recommend.splits import Case


class CollaborativeScores:
    """ALS scores for arbitrary histories (`implicit`): the user's factors are re-solved from
    the history. Items nobody chose in training score 0."""

    def __init__(self, model: Any, items: Sequence[str]) -> None:
        self.model, self.idx = model, item_index(items)

    def score(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
        from cotune.apps.recommend.baselines import history_matrix

        rows = history_matrix(histories, self.idx)
        factors = self.model.recalculate_user(np.arange(len(histories)), rows)
        return np.asarray(factors @ self.model.item_factors.T)


class HybridScorer:
    name = "hybrid (re-ranked)"

    def __init__(
        self,
        tower: Any,
        cf: CollaborativeScores,
        stats: ItemStats,
        reranker: Reranker | None,
        n_candidates: int,
    ) -> None:
        self.tower, self.cf, self.stats = tower, cf, stats
        self.reranker, self.n = reranker, n_candidates
        self.idx = cf.idx

    def case_features(
        self, history: Sequence[str], text: np.ndarray, cf: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = [self.idx[i] for i in history if i in self.idx]
        mask = np.ones(len(self.idx), dtype=bool)
        mask[rows] = False
        cands = candidates(text, cf, np.flatnonzero(mask), self.n)
        return cands, features(rows, cands, text, cf, self.stats)

    def score(self, users: Sequence[str], histories: Sequence[Sequence[str]]) -> np.ndarray:
        text = self.tower.score(users, histories)
        cf = self.cf.score(histories)
        out = np.empty_like(text, dtype=np.float64)
        for r, history in enumerate(histories):
            cands, x = self.case_features(history, text[r], cf[r])
            scores = self.reranker(x) if self.reranker is not None else x[:, 0]
            out[r] = final_scores(text[r], cands, scores)
        return out

    def fit(self, cases: Sequence[Case], seed: int = 0) -> Reranker:
        """Fit the re-ranker on `cases` (the dev targets): each target against its candidates
        (the target is added where retrieval missed it, so every case teaches something)."""
        xs, ys = [], []
        histories = [c.history for c in cases]
        text = self.tower.score([c.user for c in cases], histories)
        cf = self.cf.score(histories)
        for r, case in enumerate(cases):
            target = self.idx[case.target]
            cands, x = self.case_features(case.history, text[r], cf[r])
            if target not in cands:
                rows = [self.idx[i] for i in case.history if i in self.idx]
                cands = np.append(cands, target)
                x = np.vstack([x, features(rows, np.array([target]), text[r], cf[r], self.stats)])
            xs.append(x)
            ys.append((cands == target).astype(int))
        self.reranker = Reranker.fit(np.vstack(xs), np.concatenate(ys), seed)
        return self.reranker
