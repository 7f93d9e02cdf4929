"""The re-ranker is fitted as a ranker within each target's pool, so what a pool shares (cold
items: popularity 0, no ALS score) cannot be learned as a preference."""

from __future__ import annotations

import numpy as np

from cotune.apps.recommend.rerank import Reranker


def _groups(seed: int = 0) -> list[tuple[np.ndarray, int]]:
    """Features (text score, popularity). Warm pools: the target is the popular one, text is
    noise. Cold pools: nobody is popular, the target has the best text score."""
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(60):
        x = np.column_stack([rng.normal(size=8), rng.uniform(0, 1, size=8)])
        x[0, 1] = 3.0  # the warm target is popular
        groups.append((x, 0))
        c = np.column_stack([rng.normal(size=8), np.zeros(8)])
        c[0, 0] = c[:, 0].max() + 1.0  # the cold target reads best
        groups.append((c, 0))
    return groups


def test_pairwise_fit_learns_both_pools_preferences() -> None:
    ranker = Reranker.fit_pairwise(_groups())
    text_weight, popularity_weight = ranker.coef
    assert text_weight > 0 and popularity_weight > 0 and ranker.intercept == 0.0
    for x, target in _groups(seed=1):  # held-out groups: the target ranks first in each
        assert int(np.argmax(ranker(x))) == target


def test_round_trip_through_json() -> None:
    ranker = Reranker.fit_pairwise(_groups())
    x = _groups(seed=2)[0][0]
    np.testing.assert_allclose(Reranker.from_json(ranker.to_json())(x), ranker(x))
