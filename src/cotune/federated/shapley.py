"""Shapley values and leave-one-out of parties in a cooperative game v(coalition) -> float.

Exact Shapley enumerates all 2^n coalitions (fine up to ~6 parties with cached values); beyond
that, Monte-Carlo permutation sampling (Castro et al. 2009) averages each party's marginal
contribution over random orders. Both are efficient by construction: the values sum to
v(all) - v(empty) exactly, because every permutation's marginals telescope to that total.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

Coalition = frozenset[str]


@dataclass
class CachedGame:
    """v(S) computed once per coalition (each costs a replay and a dev evaluation)."""

    value: Callable[[Coalition], float]
    cache: dict[Coalition, float] = field(default_factory=dict)

    def __call__(self, coalition: Coalition) -> float:
        if coalition not in self.cache:
            self.cache[coalition] = float(self.value(coalition))
        return self.cache[coalition]


def exact_shapley(players: Sequence[str], v: Callable[[Coalition], float]) -> dict[str, float]:
    n = len(players)
    out: dict[str, float] = {}
    for p in players:
        others = [q for q in players if q != p]
        total = 0.0
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in combinations(others, size):
                s = frozenset(subset)
                total += weight * (v(s | {p}) - v(s))
        out[p] = total
    return out


def monte_carlo_shapley(
    players: Sequence[str], v: Callable[[Coalition], float], permutations: int, seed: int = 0
) -> tuple[dict[str, float], dict[str, float]]:
    """(estimates, standard errors) from `permutations` random orders of the players."""
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {p: [] for p in players}
    order = list(players)
    for _ in range(permutations):
        rng.shuffle(order)
        coalition: Coalition = frozenset()
        before = v(coalition)
        for p in order:
            coalition = coalition | {p}
            after = v(coalition)
            samples[p].append(after - before)
            before = after
    est = {p: sum(s) / len(s) for p, s in samples.items()}
    err = {
        p: (
            math.sqrt(sum((x - est[p]) ** 2 for x in s) / (len(s) - 1) / len(s))
            if len(s) > 1
            else math.nan
        )
        for p, s in samples.items()
    }
    return est, err


def leave_one_out(players: Sequence[str], v: Callable[[Coalition], float]) -> dict[str, float]:
    """v(all) - v(all without p): what the final model loses without each party."""
    everyone = frozenset(players)
    return {p: v(everyone) - v(everyone - {p}) for p in players}
