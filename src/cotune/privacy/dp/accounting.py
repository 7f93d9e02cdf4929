"""Privacy accounting for DP-SGD: calibrate the noise to a budget, track what was spent.

Every step of a cotune DP run is the same subsampled Gaussian mechanism (same noise multiplier,
same Poisson rate), so epsilon after k steps is a function of k alone; the accountant still
keeps Opacus's (noise, rate, steps) history, which is what a checkpoint saves and a resumed run
restores.
"""

from __future__ import annotations

import warnings
from typing import Any

ACCOUNTANTS = ("rdp", "prv")


def _accountant(kind: str) -> Any:
    from opacus.accountants import create_accountant

    if kind not in ACCOUNTANTS:
        raise ValueError(f"unknown accountant {kind!r}: use one of {ACCOUNTANTS}")
    return create_accountant(mechanism=kind)


def _epsilon(acc: Any, delta: float) -> float:
    with warnings.catch_warnings():
        # Opacus warns when the best Renyi order is its largest (little noise, large epsilon):
        # the bound is still valid, only looser; it would repeat at every log line
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return float(acc.get_epsilon(delta=delta))


def epsilon_after(
    steps: int, noise_multiplier: float, sample_rate: float, delta: float, kind: str = "rdp"
) -> float:
    """Epsilon spent by `steps` steps of the subsampled Gaussian mechanism (0 for no step)."""
    if steps <= 0:
        return 0.0
    acc = _accountant(kind)
    acc.history = [(noise_multiplier, sample_rate, steps)]
    return _epsilon(acc, delta)


def calibrate_noise(
    epsilon: float, delta: float, sample_rate: float, steps: int, kind: str = "rdp"
) -> float:
    """The smallest noise multiplier (to Opacus's 0.01 epsilon tolerance) whose `steps` steps
    spend at most `epsilon`. Raises ValueError when no noise below 1e6 does."""
    from opacus.accountants.utils import get_noise_multiplier

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        sigma = get_noise_multiplier(
            target_epsilon=epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant=kind,
        )
    return float(sigma)


def steps_within_budget(
    budget: float,
    noise_multiplier: float,
    sample_rate: float,
    delta: float,
    kind: str = "rdp",
    limit: int = 10**7,
) -> int:
    """The most steps whose epsilon stays within `budget` (epsilon grows with steps; found by
    doubling then bisection, so a slow accountant is asked only a few dozen times)."""

    def fits(k: int) -> bool:
        return epsilon_after(k, noise_multiplier, sample_rate, delta, kind) <= budget

    if not fits(1):
        return 0
    low, high = 1, 2
    while high < limit and fits(high):
        low, high = high, high * 2
    if high >= limit and fits(limit):
        return limit
    while high - low > 1:  # fits(low), not fits(high)
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


class Accountant:
    """Opacus's accountant for one run, with a state that survives a checkpoint."""

    def __init__(self, noise_multiplier: float, sample_rate: float, delta: float, kind: str):
        self.noise_multiplier = noise_multiplier
        self.sample_rate = sample_rate
        self.delta = delta
        self.kind = kind
        self._acc = _accountant(kind)

    @property
    def steps(self) -> int:
        return sum(int(n) for _, _, n in self._acc.history)

    def step(self) -> None:
        self._acc.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)

    def epsilon(self) -> float:
        return 0.0 if not self._acc.history else _epsilon(self._acc, self.delta)

    def state(self) -> dict[str, Any]:
        """Plain lists and numbers: checkpoints load with weights_only=True."""
        return {
            "kind": self.kind,
            "history": [[float(s), float(q), int(n)] for s, q, n in self._acc.history],
        }

    def load(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise ValueError(f"checkpoint accounted with {state.get('kind')!r}, not {self.kind!r}")
        self._acc.history = [(float(s), float(q), int(n)) for s, q, n in state["history"]]
