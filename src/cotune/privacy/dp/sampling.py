"""Poisson batch sampling, the sampling DP-SGD's privacy amplification is proven for.

Each step takes every training row independently with probability q = expected batch / rows,
so batch sizes vary (and a batch may be empty: the step then applies noise alone). Shuffled
fixed-size batches would not match the accountant's analysis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# keeps DP's sampling stream apart from the shuffles other code derives from the same seed
_SALT = 0xD9


def steps_per_epoch(n_rows: int, expected_batch: int) -> int:
    """Steps that cover the rows once in expectation: ceil(n / expected batch), the count the
    loop's `total_steps` gives for batch_size x grad_accum."""
    return max(1, math.ceil(n_rows / expected_batch))


def poisson_steps(
    lengths: Sequence[int],
    epoch: int,
    *,
    expected_batch: int,
    micro_batch: int,
    seed: int,
) -> list[list[list[int]]]:
    """The steps of one epoch, each a list of micro-batches of at most `micro_batch` rows.

    The same (seed, epoch) always gives the same steps, so a resumed run replays them. Rows of
    a step are ordered by length before being cut into micro-batches (less padding; the order
    inside a step changes nothing, its gradients are summed).
    """
    n = len(lengths)
    rate = expected_batch / n
    rng = np.random.default_rng([seed, epoch, _SALT])
    steps: list[list[list[int]]] = []
    for _ in range(steps_per_epoch(n, expected_batch)):
        taken: list[int] = np.flatnonzero(rng.random(n) < rate).tolist()
        rows = sorted(taken, key=lambda i: -lengths[i])
        steps.append([rows[m : m + micro_batch] for m in range(0, len(rows), micro_batch)])
    return steps
