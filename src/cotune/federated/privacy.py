"""Client-side differential privacy on updates: clip to C, add N(0, (sigma*C)^2), account.

Each party privatises its own update before it leaves the machine (the "local" variant of
DP-FedAvg, McMahan et al. 2018), so the guarantee holds even against the server. The unit of
privacy is the party's whole data set: one round joined is one application of the Gaussian
mechanism with sensitivity C, sample rate 1. Epsilon over k rounds comes from Opacus' RDP
accountant, per party (the same accountant as DP-SGD's, privacy/dp/accounting.py).
"""

from __future__ import annotations

import math
import secrets

import numpy as np

from cotune.federated.aggregate import clip
from cotune.federated.exchange import Arrays
from cotune.privacy.dp.accounting import epsilon_after


def privatize(
    delta: Arrays, clip_norm: float, noise_multiplier: float, rng: np.random.Generator | None = None
) -> tuple[Arrays, float]:
    """Clip `delta` to `clip_norm` and add Gaussian noise; returns (noisy delta, clip scale).

    The noise generator is seeded from the OS by default: noise anyone can regenerate from a
    known seed protects nothing.
    """
    clipped, scale = clip(delta, clip_norm)
    if noise_multiplier == 0:
        return clipped, scale
    gen = rng or np.random.default_rng(secrets.randbits(128))
    std = noise_multiplier * clip_norm
    noisy = {
        k: (v + gen.normal(0.0, std, size=v.shape)).astype(np.float32) for k, v in clipped.items()
    }
    return noisy, scale


def epsilon_spent(noise_multiplier: float, rounds: int, delta: float) -> float:
    """Epsilon after `rounds` Gaussian releases of a party's update: the DP-SGD accountant's
    subsampled Gaussian mechanism at sample rate 1 (every round releases the whole data set)."""
    if rounds > 0 and noise_multiplier <= 0:
        return math.inf
    return epsilon_after(rounds, noise_multiplier, sample_rate=1.0, delta=delta)
