"""Fusing ranked lists from several retrievers (dense and lexical) into one.

Two rules, chosen per use by measurement (docs/benchmarks.md):
  rrf  reciprocal rank fusion (Cormack et al. 2009): sum of 1 / (c + rank); ignores the
       scores' scales, so it needs no tuning, but it also ignores how sure each list was.
  mix  a weighted sum of scores after scaling each list by its best score; keeps margins.
The fused score orders candidates; it is not a probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Ranked = Sequence[tuple[str, float]]
FusionMethod = Literal["rrf", "mix"]


def reciprocal_rank_fusion(
    lists: Sequence[Ranked], *, c: float = 60.0, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    weights = list(weights) if weights is not None else [1.0] * len(lists)
    fused: dict[str, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for rank, (id_, _) in enumerate(ranked, start=1):
            fused[id_] = fused.get(id_, 0.0) + weight / (c + rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def score_mix(
    lists: Sequence[Ranked], *, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """sum_i w_i * score_i / max(score_i); a candidate missing from a list scores 0 there."""
    weights = list(weights) if weights is not None else [1.0] * len(lists)
    fused: dict[str, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        top = max((s for _, s in ranked), default=0.0)
        for id_, score in ranked:
            share = score / top if top > 0 else 0.0
            fused[id_] = fused.get(id_, 0.0) + weight * share
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def fuse(
    lists: Sequence[Ranked],
    method: FusionMethod = "rrf",
    *,
    weights: Sequence[float] | None = None,
) -> list[tuple[str, float]]:
    if method == "rrf":
        return reciprocal_rank_fusion(lists, weights=weights)
    if method == "mix":
        return score_mix(lists, weights=weights)
    raise ValueError(f"unknown fusion method {method!r}: use 'rrf' or 'mix'")
