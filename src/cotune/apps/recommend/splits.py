"""Evaluation splits for recommenders: temporal leave-last-out per user, and item cold-start.

Each user's interactions are put in time order (ties keep file order). The last one is the
test target, the one before it the dev target, the rest train (a user with fewer than three has
all of them in train: nothing is left to predict). The cold-start split first holds out a
seeded fifth of the interacted items: they never appear in training; each user's last and
second-to-last interactions with them become the cold test and cold dev targets, and the
leave-last-out cut runs over the remaining (warm) interactions.

An evaluation case names what the model sees (`history`, in time order), what it must find
(`target`), and what it must not recommend (`seen`); `kind` says which candidate pool the
target is ranked in: warm (items that appear in training) or cold (items that never do).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from cotune.data.interactions import InteractionData
from cotune.errors import ConfigError


@dataclass(frozen=True)
class Case:
    user: str
    target: str
    history: tuple[str, ...]
    seen: frozenset[str]
    kind: str  # "warm" | "cold"


@dataclass
class Split:
    items: list[str]  # every catalog item, in catalog order
    train: dict[str, list[str]]  # user -> training items, oldest first
    train_ts: dict[str, list[float]]
    cold_items: set[str]
    cases: dict[str, list[Case]]  # "dev", "test", "cold_dev", "cold_test"
    full_history: dict[str, list[str]] = field(default_factory=dict)  # every interaction
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def warm_items(self) -> set[str]:
        return {i for seq in self.train.values() for i in seq}


def _sequences(data: InteractionData) -> dict[str, list[tuple[float, int, str]]]:
    per_user: dict[str, list[tuple[float, int, str]]] = defaultdict(list)
    for n, x in enumerate(data.interactions):
        per_user[x.user].append((x.ts, n, x.item))
    for seq in per_user.values():
        seq.sort()
    return per_user


def make_split(
    data: InteractionData, kind: str = "temporal", *, cold_fraction: float = 0.2, seed: int = 13
) -> Split:
    """`kind` is "temporal" (leave-last-out) or "cold" (leave-last-out over the warm items,
    plus cold-start targets on a held-out `cold_fraction` of the items)."""
    if kind not in ("temporal", "cold"):
        raise ConfigError(f"unknown split {kind!r}", where="data.split", fix="temporal or cold")
    if not 0 < cold_fraction < 1:
        raise ConfigError(
            f"cold_fraction {cold_fraction} is not in (0, 1)",
            where="data.cold_fraction",
            fix="e.g. 0.2",
        )
    per_user = _sequences(data)
    interacted = sorted({x.item for x in data.interactions})
    cold: set[str] = set()
    if kind == "cold":
        cold = set(random.Random(seed).sample(interacted, round(cold_fraction * len(interacted))))
    train: dict[str, list[str]] = {}
    train_ts: dict[str, list[float]] = {}
    cases: dict[str, list[Case]] = {"dev": [], "test": [], "cold_dev": [], "cold_test": []}
    for user in sorted(per_user):
        seq = per_user[user]
        warm = [(ts, item) for ts, _, item in seq if item not in cold]
        cold_seq = [item for _, _, item in seq if item in cold]
        cut = len(warm) - 2 if len(warm) >= 3 else len(warm)
        train[user] = [item for _, item in warm[:cut]]
        train_ts[user] = [ts for ts, _ in warm[:cut]]
        if cut < len(warm):
            dev_item, test_item = warm[cut][1], warm[cut + 1][1]
            history = tuple(train[user])
            cases["dev"].append(Case(user, dev_item, history, frozenset(history), "warm"))
            history_t = (*history, dev_item)
            cases["test"].append(Case(user, test_item, history_t, frozenset(history_t), "warm"))
        # cold targets: known user, new item; the user's earlier cold items count as seen
        if train[user]:
            for name, pos in (("cold_test", -1), ("cold_dev", -2)):
                if len(cold_seq) >= -pos:
                    earlier = frozenset(cold_seq[: len(cold_seq) + pos])
                    seen = frozenset(item for _, item in warm) | earlier
                    cases[name].append(Case(user, cold_seq[pos], tuple(train[user]), seen, "cold"))
    split = Split(
        list(data.items),
        train,
        train_ts,
        cold,
        cases,
        {u: [i for _, _, i in seq] for u, seq in per_user.items()},
    )
    split.record = {
        "method": kind,
        "seed": seed,
        "cold_fraction": cold_fraction if kind == "cold" else 0.0,
        "users": len(per_user),
        "items": len(data.items),
        "cold_items": len(cold),
        "train_interactions": sum(len(s) for s in train.values()),
        **{f"{k}_cases": len(v) for k, v in cases.items()},
        "sha256": hashlib.sha256(
            json.dumps(
                [sorted(cold), {k: [(c.user, c.target) for c in v] for k, v in cases.items()}]
            ).encode()
        ).hexdigest(),
    }
    return split
