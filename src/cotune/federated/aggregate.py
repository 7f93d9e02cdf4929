"""Server-side aggregation: check each update, clip it, average by examples, apply.

Parties send *updates* (their trained weights minus the global weights they started from), so
averaging updates weighted by examples and adding the result to the global weights is exactly
FedAvg (McMahan et al. 2017) with server learning rate 1; FedProx (Li et al. 2020) aggregates
the same way and differs only in the parties' loss. Everything here is plain numpy, written
once and used both by the live server and by the ledger when it re-aggregates coalitions from
stored updates, so a coalition of all parties reproduces the real final model bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from cotune.federated.exchange import Arrays


@dataclass
class Update:
    """One party's reply in one round."""

    party: str
    delta: Arrays
    n_examples: int
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Rejection:
    party: str
    reason: str


def l2_norm(arrays: Mapping[str, np.ndarray]) -> float:
    total = 0.0
    for v in arrays.values():
        a = np.asarray(v, dtype=np.float64)
        total += float(np.dot(a.ravel(), a.ravel()))
    return math.sqrt(total)


def check_update(
    update: Update,
    expected: Mapping[str, tuple[int, ...]],
    *,
    reject_norm: float | None,
) -> str | None:
    """Why `update` must not be averaged in, or None when it is acceptable.

    Catches what a broken or malicious party can send: missing or extra tensors, wrong shapes
    or dtypes, NaN/inf, an update norm far beyond honest training, a nonsensical example count.
    """
    if not isinstance(update.n_examples, int) or update.n_examples < 1:
        return f"num-examples must be a positive integer, got {update.n_examples!r}"
    missing = sorted(set(expected) - set(update.delta))
    extra = sorted(set(update.delta) - set(expected))
    if missing:
        return f"missing {len(missing)} tensor(s), e.g. {missing[0]}"
    if extra:
        return f"{len(extra)} unexpected tensor(s), e.g. {extra[0]}"
    for name, shape in expected.items():
        value = np.asarray(update.delta[name])
        if not np.issubdtype(value.dtype, np.floating):
            return f"{name}: dtype {value.dtype} is not floating point"
        if tuple(value.shape) != tuple(shape):
            return f"{name}: shape {tuple(value.shape)} != expected {tuple(shape)}"
        if not np.all(np.isfinite(value)):
            return f"{name}: holds NaN or inf"
    norm = l2_norm(update.delta)
    if reject_norm is not None and norm > reject_norm:
        return f"update norm {norm:.4g} exceeds federation.reject_norm {reject_norm:.4g}"
    return None


def clip(delta: Mapping[str, np.ndarray], max_norm: float) -> tuple[Arrays, float]:
    """Scale `delta` down to L2 norm `max_norm` (never up); returns (clipped, scale applied)."""
    norm = l2_norm(delta)
    scale = min(1.0, max_norm / norm) if norm > 0 else 1.0
    return {k: (np.asarray(v, dtype=np.float32) * np.float32(scale)) for k, v in delta.items()}, (
        scale
    )


def weighted_average(updates: Sequence[Update]) -> Arrays:
    """Example-weighted mean of the updates' deltas (float64 sums, float32 result).

    Summed in party-name order, so the same set of updates gives the same bits whatever order
    they arrived in: the ledger's all-party coalition equals the live aggregate exactly.
    """
    if not updates:
        raise ValueError("no updates to average")
    ordered = sorted(updates, key=lambda u: u.party)
    total = float(sum(u.n_examples for u in ordered))
    out: dict[str, np.ndarray] = {}
    for u in ordered:
        w = u.n_examples / total
        for k, v in u.delta.items():
            acc = out.get(k)
            term = np.asarray(v, dtype=np.float64) * w
            out[k] = term if acc is None else acc + term
    return {k: v.astype(np.float32) for k, v in out.items()}


def apply_delta(global_arrays: Mapping[str, np.ndarray], delta: Mapping[str, np.ndarray]) -> Arrays:
    return {
        k: (np.asarray(v, dtype=np.float32) + delta[k]).astype(np.float32)
        for k, v in global_arrays.items()
    }


@dataclass
class RoundAggregate:
    """What one round's aggregation decided."""

    arrays: Arrays  # the new global weights (unchanged when too few updates were accepted)
    accepted: list[Update]  # as averaged in: after clipping
    rejected: list[Rejection]
    clip_scales: dict[str, float]
    norms: dict[str, float]  # update norms as received
    aggregated: bool  # False: fewer than min_clients accepted, the global model stays


def aggregate_round(
    global_arrays: Mapping[str, np.ndarray],
    updates: Sequence[Update],
    *,
    min_clients: int,
    clip_norm: float | None,
    reject_norm: float | None,
) -> RoundAggregate:
    """Check, clip and average one round's updates into new global weights."""
    expected = {k: tuple(np.asarray(v).shape) for k, v in global_arrays.items()}
    accepted: list[Update] = []
    rejected: list[Rejection] = []
    scales: dict[str, float] = {}
    norms: dict[str, float] = {}
    for u in updates:
        reason = check_update(u, expected, reject_norm=reject_norm)
        if reason is not None:
            rejected.append(Rejection(u.party, reason))
            continue
        norms[u.party] = l2_norm(u.delta)
        delta = {k: np.asarray(u.delta[k], dtype=np.float32) for k in expected}
        if clip_norm is not None:
            delta, scales[u.party] = clip(delta, clip_norm)
        accepted.append(Update(u.party, delta, u.n_examples, dict(u.metrics)))
    if len(accepted) < min_clients:
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in global_arrays.items()}
        return RoundAggregate(arrays, accepted, rejected, scales, norms, aggregated=False)
    arrays = apply_delta(global_arrays, weighted_average(accepted))
    return RoundAggregate(arrays, accepted, rejected, scales, norms, aggregated=True)
