"""A training-loop callback that logs metrics to a tracker as the loop records them."""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from cotune.tracking.base import Tracker
from cotune.training.loop import TrainState

log = logging.getLogger(__name__)


def history_metrics(entry: dict[str, Any]) -> dict[str, float]:
    """One `TrainState.history` entry as flat metric names: train_loss, lr, dev_f1, ..."""
    if entry.get("type") == "train":
        keys = {"loss": "train_loss", "lr": "lr", "words_per_s": "words_per_s", "epoch": "epoch"}
        return {new: float(entry[old]) for old, new in keys.items() if old in entry} | _dp(entry)
    if entry.get("type") == "eval":
        return {f"dev_{k}": float(v) for k, v in entry.get("dev", {}).items()} | _dp(entry)
    return {}


def _dp(entry: dict[str, Any]) -> dict[str, float]:
    """What DP-SGD writes on history entries: the epsilon spent so far, the clipped share, the
    signal-to-noise ratio."""
    return {k: float(entry[k]) for k in ("epsilon", "dp_clipped_frac", "dp_snr") if k in entry}


class TrackingCallback:
    """Logs each new history entry (train window every few steps, every dev evaluation) at its
    step, as it happens, so a crashed or pruned run still shows its curve.

    A tracking failure (database locked, server down) is reported once and then ignored:
    losing a curve is better than losing hours of training.
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.logged = 0
        self.failed = False

    def on_step_end(self, state: TrainState, model: nn.Module) -> None:
        self.flush(state.history)

    def flush(self, history: list[dict[str, Any]]) -> None:
        if self.failed:
            return
        try:
            while self.logged < len(history):
                entry = history[self.logged]
                metrics = history_metrics(entry)
                if metrics:
                    self.tracker.log_metrics(metrics, step=int(entry.get("step", 0)))
                self.logged += 1
        except Exception as e:  # never let the tracker stop training
            self.failed = True
            log.warning("tracking stopped logging metrics (%s: %s)", type(e).__name__, e)
