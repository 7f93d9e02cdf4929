"""Score a recommender's cases: each target ranked in its full pool of unseen items.

The pool of a warm case is every item that appears in training and that the user has not seen;
that of a cold case every held-out (cold) item the user has not seen. Metrics: Recall@10,
nDCG@10 (scikit-learn) and MRR, ties scored by their expectation (see `metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cotune.apps.recommend.baselines import Scorer, item_index
from cotune.apps.recommend.metrics import case_metrics, sklearn_ndcg, summarise
from cotune.apps.recommend.splits import Case, Split

K = 10


def pools(split: Split) -> dict[str, np.ndarray]:
    """Boolean masks over the catalog: the warm and the cold items."""
    warm = split.warm_items
    in_warm = np.array([i in warm for i in split.items])
    in_cold = np.array([i in split.cold_items for i in split.items])
    if not split.cold_items:  # temporal split: never-trained items are the cold ones
        in_cold = ~in_warm
    return {"warm": in_warm, "cold": in_cold}


def case_pool(case: Case, masks: dict[str, np.ndarray], idx: dict[str, int]) -> np.ndarray:
    mask = masks[case.kind].copy()
    mask[[idx[i] for i in case.seen if i in idx]] = False
    mask[idx[case.target]] = True
    return np.flatnonzero(mask)


def case_rows(split: Split, cases: Sequence[Case], scores: np.ndarray) -> list[dict[str, float]]:
    """Metrics of each case given the (n_cases, n_items) score matrix (for means and for
    paired comparisons between models)."""
    idx = item_index(split.items)
    masks = pools(split)
    rows = []
    for case, row in zip(cases, scores, strict=True):
        pool = case_pool(case, masks, idx)
        target = idx[case.target]
        metrics = case_metrics(row, target, pool, K)
        metrics[f"ndcg@{K}"] = sklearn_ndcg(row, target, pool, K)
        rows.append(metrics)
    return rows


def evaluate_scores(split: Split, cases: Sequence[Case], scores: np.ndarray) -> dict[str, float]:
    """Mean metrics of `cases` given their (n_cases, n_items) score matrix."""
    return summarise(case_rows(split, cases, scores))


def score_cases(scorer: Scorer, cases: Sequence[Case], batch: int = 256) -> np.ndarray:
    parts = [
        scorer.score(
            [c.user for c in cases[i : i + batch]], [c.history for c in cases[i : i + batch]]
        )
        for i in range(0, len(cases), batch)
    ]
    return np.vstack(parts)


def evaluate_scorer(
    split: Split, scorer: Scorer, names: Sequence[str] = ("test", "cold_test"), batch: int = 256
) -> dict[str, dict[str, float]]:
    """{case set: metrics} for one scorer."""
    out: dict[str, dict[str, float]] = {}
    for name in names:
        cases = split.cases[name]
        if not cases:
            continue
        out[name] = evaluate_scores(split, cases, score_cases(scorer, cases, batch))
    return out


def evaluate_with_cases(
    split: Split, scorer: Scorer, names: Sequence[str] = ("test", "cold_test")
) -> tuple[dict[str, dict[str, float]], dict[str, list[dict[str, Any]]]]:
    """`evaluate_scorer` plus each case's own figures (user, target and metrics), for error
    analysis and paired comparisons."""
    summary: dict[str, dict[str, float]] = {}
    per_case: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        cases = split.cases[name]
        if not cases:
            continue
        rows = case_rows(split, cases, score_cases(scorer, cases))
        summary[name] = summarise(rows)
        per_case[name] = [
            {"user": c.user, "target": c.target, **r} for c, r in zip(cases, rows, strict=True)
        ]
    return summary, per_case
