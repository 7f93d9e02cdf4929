"""Median pruning fed from the training loop: each dev evaluation is reported to the trial."""

from __future__ import annotations

from typing import Any

import optuna
from torch import nn

from cotune.tracking.base import RunStopped
from cotune.training.loop import TrainState


class TrialPruned(RunStopped, optuna.TrialPruned):
    """Optuna's pruned signal that is also cotune's 'stopped on purpose' (run status KILLED)."""


class PruningCallback:
    """Reports the dev metric of every evaluation (step = evaluation number, i.e. the epoch
    under the default once-per-epoch evaluation, so trials with different batch sizes are
    compared at the same point) and stops the trial when the pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial = trial
        self.metric = metric
        self.seen = 0  # history entries already looked at
        self.evals = 0

    def on_step_end(self, state: TrainState, model: nn.Module) -> None:
        while self.seen < len(state.history):
            entry: dict[str, Any] = state.history[self.seen]
            self.seen += 1
            if entry.get("type") != "eval" or self.metric not in entry.get("dev", {}):
                continue
            self.evals += 1
            value = float(entry["dev"][self.metric])
            self.trial.report(value, step=self.evals)
            if self.trial.should_prune():
                raise TrialPruned(
                    f"trial {self.trial.number} pruned at evaluation {self.evals}: "
                    f"dev {self.metric} {value:.4f} below the median of earlier trials"
                )
