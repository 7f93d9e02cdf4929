"""Faithfulness of word attributions: ERASER comprehensiveness and sufficiency (DeYoung et al.
2020), as AOPC over removing the top 1, 5, 10, 20 and 50% of the words, and normalised by the
null difference (Carton et al. 2020).

For one target with probability p(x) on the full input:

* comprehensiveness_k = p(x) - p(x without the top-k words): high when the words mattered;
* sufficiency_k = p(x) - p(only the top-k words): low when they alone carry the prediction;
* null difference = max(0, p(x) - p(no words)); normalised comprehensiveness =
  clip(max(0, comp_k) / null, 0, 1), normalised sufficiency = clip(1 - max(0, suff_k) / null, 0, 1)
  (both: higher is more faithful). Targets whose null difference is under `MIN_NULL_DIFF` have no
  normalised score (the model predicts the same with no words at all), and are counted.

Removal: classification deletes the words' sub-tokens (ERASER); NER replaces them by [MASK], so
the entity's positions, where its probability is read, stay in place (the entity's own words
are ranked and removed like any other).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from cotune.explain.layout import Target, Window
from cotune.explain.model import device_of

FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.50)
MIN_NULL_DIFF = 0.01
Removal = Literal["delete", "mask"]


@dataclass
class TargetFaithfulness:
    """Probabilities of one target under each removal, and the ERASER scores they give."""

    p_full: float
    p_null: float
    p_without: list[float]  # per fraction: top-k words removed
    p_only: list[float]  # per fraction: only the top-k words kept
    n_words: int

    @property
    def comprehensiveness(self) -> float:
        return _mean([self.p_full - p for p in self.p_without])

    @property
    def sufficiency(self) -> float:
        return _mean([self.p_full - p for p in self.p_only])

    @property
    def null_diff(self) -> float:
        return max(0.0, self.p_full - self.p_null)

    @property
    def normalised_comprehensiveness(self) -> float | None:
        if self.null_diff < MIN_NULL_DIFF:
            return None
        return _mean([_clip(max(0.0, self.p_full - p) / self.null_diff) for p in self.p_without])

    @property
    def normalised_sufficiency(self) -> float | None:
        if self.null_diff < MIN_NULL_DIFF:
            return None
        return _mean([_clip(1 - max(0.0, self.p_full - p) / self.null_diff) for p in self.p_only])

    def to_dict(self) -> dict[str, Any]:
        return {
            "comprehensiveness": self.comprehensiveness,
            "sufficiency": self.sufficiency,
            "normalised_comprehensiveness": self.normalised_comprehensiveness,
            "normalised_sufficiency": self.normalised_sufficiency,
            "p_full": self.p_full,
            "p_null": self.p_null,
            "n_words": self.n_words,
        }


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def top_k_counts(n_words: int, fractions: Sequence[float] = FRACTIONS) -> list[int]:
    """Words removed at each fraction: at least one, at most all (a 1% cut of a 12-word tweet
    still removes its top word, as ERASER's token-level top-k does)."""
    return [min(n_words, max(1, math.ceil(f * n_words))) for f in fractions]


def rank_words(scores: Sequence[float | None]) -> list[int]:
    """Word indices by score, most supportive first; words the window does not hold are left out.
    Ties keep text order (stable sort)."""
    present = [k for k, s in enumerate(scores) if s is not None]
    return sorted(present, key=lambda k: -float(scores[k] or 0.0))


def _variant(win: Window, keep: set[int], removal: Removal, mask_id: int) -> list[int]:
    if removal == "delete":
        return [t for t, w in zip(win.input_ids, win.word_of, strict=True) if w < 0 or w in keep]
    return [
        t if w < 0 or w in keep else mask_id
        for t, w in zip(win.input_ids, win.word_of, strict=True)
    ]


@torch.no_grad()
def faithfulness(
    model: Any,
    win: Window,
    target: Target,
    scores: Sequence[float | None],
    *,
    removal: Removal,
    pad_id: int,
    mask_id: int,
    fractions: Sequence[float] = FRACTIONS,
) -> TargetFaithfulness:
    """ERASER probabilities of one target, all variants in one padded forward pass."""
    if removal == "delete" and target.positions is not None:
        raise ValueError("deleting words moves token positions: use removal='mask' for NER")
    ranked = rank_words(scores)
    everything = set(ranked)
    counts = top_k_counts(len(ranked), fractions)
    variants = [_variant(win, everything, removal, mask_id), _variant(win, set(), removal, mask_id)]
    variants += [_variant(win, everything - set(ranked[:k]), removal, mask_id) for k in counts]
    variants += [_variant(win, set(ranked[:k]), removal, mask_id) for k in counts]
    width = max(len(v) for v in variants)
    ids = torch.full((len(variants), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, v in enumerate(variants):
        ids[row, : len(v)] = torch.tensor(v)
        mask[row, : len(v)] = 1
    device = device_of(model)
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    p = target.probability(logits).cpu().tolist()
    n = len(counts)
    return TargetFaithfulness(p[0], p[1], p[2 : 2 + n], p[2 + n :], len(ranked))


def summarise(records: Sequence[TargetFaithfulness]) -> dict[str, Any]:
    """Means (and standard errors) over targets of the four ERASER scores."""
    out: dict[str, Any] = {"targets": len(records)}
    for key in (
        "comprehensiveness",
        "sufficiency",
        "normalised_comprehensiveness",
        "normalised_sufficiency",
    ):
        values = [v for r in records if (v := getattr(r, key)) is not None]
        mean = _mean(values) if values else None
        out[key] = mean
        if values and len(values) > 1 and mean is not None:
            var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
            out[f"{key}_se"] = math.sqrt(var / len(values))
    out["excluded_from_normalised"] = sum(1 for r in records if r.null_diff < MIN_NULL_DIFF)
    return out
