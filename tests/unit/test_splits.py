"""Seeded splits: the documented rule exactly, stratification, and the record."""

from __future__ import annotations

import random
from collections import Counter

from cotune.data.splits import seeded_split


def test_default_rule_is_exactly_the_documented_one() -> None:
    items = list(range(2394))
    tr, dv, te, rec = seeded_split(items, seed=13, dev=0.1, test=0.1)
    ref = list(items)
    random.Random(13).shuffle(ref)
    n = len(ref)
    assert tr == ref[: int(0.8 * n)]
    assert dv == ref[int(0.8 * n) : int(0.9 * n)]
    assert te == ref[int(0.9 * n) :]
    assert rec["sizes"] == {"train": 1915, "dev": 239, "test": 240}


def test_stratified_split_keeps_label_shares_and_is_deterministic() -> None:
    labels = ["a"] * 700 + ["b"] * 300
    out1 = seeded_split(labels, seed=1, dev=0.1, test=0.1, strata=labels)
    out2 = seeded_split(labels, seed=1, dev=0.1, test=0.1, strata=labels)
    assert out1 == out2
    assert Counter(out1[1]) == {"a": 70, "b": 30}
    assert Counter(out1[2]) == {"a": 70, "b": 30}
    assert out1[3]["method"] == "stratified-seeded-shuffle"
    other = seeded_split(labels, seed=2, dev=0.1, test=0.1, strata=labels)
    assert other[3]["index_sha256"] != out1[3]["index_sha256"]
