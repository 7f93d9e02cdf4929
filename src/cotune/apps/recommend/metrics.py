"""Ranking metrics over the full ranking of a candidate pool: Recall@k, nDCG@k and MRR.

Each case has one target. A model that gives several items the same score has not ordered
them, so ties are scored by their expectation over a random order of the tied items (what
scikit-learn's `ndcg_score` does with `ignore_ties=False`): a popularity model that scores
every never-seen item 0 gets the chance figure on cold items, not a lucky or unlucky one.
nDCG@k is computed by scikit-learn; Recall@k and MRR by the same tie rule here, and the tests
check both against hand-computed cases.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import ndcg_score


def target_positions(scores: np.ndarray, target: int, pool: np.ndarray) -> tuple[int, int]:
    """(first, last) 1-based positions the target may take: after every strictly better pool
    item, anywhere among the items tied with it."""
    s = scores[pool]
    t = scores[target]
    better = int(np.count_nonzero(s > t))
    tied = int(np.count_nonzero(s == t))  # the target is in the pool: tied >= 1
    return better + 1, better + max(tied, 1)


def case_metrics(
    scores: np.ndarray, target: int, pool: np.ndarray, k: int = 10
) -> dict[str, float]:
    """Expected Recall@k, nDCG@k (one relevant item) and reciprocal rank of one case."""
    first, last = target_positions(scores, target, pool)
    ranks = np.arange(first, last + 1, dtype=np.float64)
    return {
        f"recall@{k}": float(np.mean(ranks <= k)),
        f"ndcg@{k}": float(np.mean(np.where(ranks <= k, 1.0 / np.log2(ranks + 1), 0.0))),
        "mrr": float(np.mean(1.0 / ranks)),
    }


def sklearn_ndcg(scores: np.ndarray, target: int, pool: np.ndarray, k: int = 10) -> float:
    """nDCG@k of one case by scikit-learn, over the pool only."""
    y_true = (pool == target).astype(np.float64)[None, :]
    return float(ndcg_score(y_true, scores[pool][None, :], k=k, ignore_ties=False))


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    """Means over cases, plus their count."""
    if not rows:
        return {"cases": 0}
    out = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
    out["cases"] = len(rows)
    return out
