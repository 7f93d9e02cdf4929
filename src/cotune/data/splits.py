"""Deterministic, recorded splits: anyone can rebuild them from the record.

The default cut is the one other tools use for WNUT-16: examples in file order,
`random.Random(seed).shuffle(...)`, then `[:int(.8n)]` train, `[int(.8n):int(.9n)]` dev and the
rest test. Classification corpora are cut the same way within each label (stratified).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def _cut(indices: list[int], dev: float, test: float) -> tuple[list[int], list[int], list[int]]:
    n = len(indices)
    a, b = int(round(1 - dev - test, 10) * n), int(round(1 - test, 10) * n)
    return indices[:a], indices[a:b], indices[b:]


def _fingerprint(indices: Sequence[int]) -> str:
    return hashlib.sha256(json.dumps(list(indices)).encode()).hexdigest()[:16]


def seeded_split(
    examples: Sequence[T],
    *,
    seed: int,
    dev: float,
    test: float,
    strata: Sequence[str] | None = None,
) -> tuple[list[T], list[T], list[T], dict[str, Any]]:
    """Shuffle with `random.Random(seed)` and cut; with `strata`, cut each stratum alike."""
    order = list(range(len(examples)))
    if strata is None:
        random.Random(seed).shuffle(order)
        tr, dv, te = _cut(order, dev, test)
        method = "seeded-shuffle"
    else:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(strata):
            groups[s].append(i)
        rng = random.Random(seed)
        tr, dv, te = [], [], []
        for key in sorted(groups):
            idx = groups[key]
            rng.shuffle(idx)
            a, b, c = _cut(idx, dev, test)
            tr += a
            dv += b
            te += c
        for part in (tr, dv, te):  # interleave the labels again, still deterministic
            rng.shuffle(part)
        method = "stratified-seeded-shuffle"
    record = {
        "method": method,
        "seed": seed,
        "fractions": {"train": round(1 - dev - test, 6), "dev": dev, "test": test},
        "sizes": {"train": len(tr), "dev": len(dv), "test": len(te)},
        "index_sha256": {
            "train": _fingerprint(tr),
            "dev": _fingerprint(dv),
            "test": _fingerprint(te),
        },
        "rule": "python random.Random(seed).shuffle over file order; cut at int(.8n), int(.9n)"
        if strata is None
        else "per label: random.Random(seed).shuffle, cut at int(frac*n_label); then shuffled",
    }
    pick = lambda ids: [examples[i] for i in ids]  # noqa: E731
    return pick(tr), pick(dv), pick(te), record
