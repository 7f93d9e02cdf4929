"""Batch order: deterministic per (seed, epoch), optionally grouped by length.

Grouping by length (sort within shuffled mega-batches, as transformers' `group_by_length`
does) cuts padding, which on a CPU is most of the waste of dynamic padding.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def epoch_batches(
    lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """Indices of each batch of one epoch. Same (seed, epoch) -> same batches, always."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group_by_length:
        mega = batch_size * 50
        grouped: list[int] = []
        for m in range(0, len(order), mega):
            chunk = sorted(order[m : m + mega], key=lambda i: -lengths[i])
            grouped.extend(chunk)
        order = grouped
    batches = [order[b : b + batch_size] for b in range(0, len(order), batch_size)]
    if group_by_length:
        # sorted mega-batches would otherwise always start with the longest batch
        rng.shuffle(batches)
    return batches
