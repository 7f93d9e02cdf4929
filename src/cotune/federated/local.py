"""A party's local step: receive global weights, train on local data with the one training loop
(`cotune.training.loop.fit`), send back the update (trained minus received), optionally
privatised. The data never leave this object; only the update and a few counts do.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from cotune.data.examples import Example
from cotune.federated.build import TaskModel, build_task_model, check_labels
from cotune.federated.config import FederatedConfig
from cotune.federated.exchange import Arrays, nbytes, subtract
from cotune.federated.privacy import epsilon_spent, privatize
from cotune.methods.catalog import MethodContext
from cotune.training.loop import fit, total_steps
from cotune.training.loss import LossFn, count_units, task_loss
from cotune.training.summary import feature_words

LOCAL_METRIC = "local_progress"


@dataclass
class LocalResult:
    delta: Arrays
    n_examples: int
    metrics: dict[str, float] = field(default_factory=dict)


def proximal_loss(model: nn.Module, anchor: dict[str, torch.Tensor], mu: float) -> LossFn:
    """FedProx: task loss + mu/2 ||w - w_global||^2 over the trainable weights.

    The loop divides a step's summed loss by its labelled units, so the proximal term is
    multiplied by this micro-batch's units: over a step it adds up to exactly mu/2 ||.||^2,
    whatever the gradient accumulation.
    """
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]

    def loss(m: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        prox = sum(((p - anchor[n]) ** 2).sum() for n, p in params)
        return task_loss(m, batch) + count_units(batch) * (mu / 2) * prox

    return loss


def estimate_flops(model: nn.Module, tokens: float) -> float:
    """Training FLOPs: forward 2N per token, backward 2N for activation gradients (they flow
    through frozen layers too) plus 2N_trainable for weight gradients; N excludes embedding
    tables (lookups, not matmuls). Full fine-tuning gives the usual 6N per token."""
    dense = trainable = 0
    for name, p in model.named_parameters():
        if "embeddings" in name:
            continue
        dense += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return float(tokens * (4 * dense + 2 * trainable))


class LocalParty:
    """One party: its examples encoded once, its copy of the model, its privacy spend."""

    def __init__(
        self,
        cfg: FederatedConfig,
        examples: Sequence[Example],
        labels: Sequence[str],
        *,
        name: str,
        where: str = "<party data>",
        progress: bool | None = False,
        task_model: TaskModel | None = None,
        rounds_joined: int = 0,
    ) -> None:
        check_labels(examples, labels, where)
        self.cfg, self.name, self.progress = cfg, name, progress
        self.examples = list(examples)
        self.tm = task_model or build_task_model(cfg, labels)
        self.features = self.tm.task.encode(self.examples)
        self.words = feature_words(self.features, self.examples)
        self.rounds_joined = rounds_joined  # restored by a party that restarts each round

    def train_round(self, global_arrays: Arrays, *, proximal_mu: float = 0.0) -> LocalResult:
        """One local step from `global_arrays`; returns the update and what it cost."""
        tm, cfg = self.tm, self.cfg
        tm.load(global_arrays)
        train_cfg = cfg.local_train()
        loss_fn: LossFn = task_loss
        if proximal_mu > 0:
            anchor = {
                n: p.detach().clone() for n, p in tm.model.named_parameters() if p.requires_grad
            }
            loss_fn = proximal_loss(tm.model, anchor, proximal_mu)
        progress_counter = iter(range(1, 1 << 30))

        def local_progress(_: Any) -> dict[str, Any]:
            # Parties do not pick a "best" local epoch: the global dev metric judges rounds.
            # An always-rising value makes the loop keep the last weights.
            return {LOCAL_METRIC: next(progress_counter)}

        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = fit(
            tm.model,
            tm.task.collate,
            self.features,
            self.words,
            local_progress,
            train_cfg,
            metric=LOCAL_METRIC,
            loss_fn=loss_fn,
            callbacks=tm.method.training_callbacks(
                tm.model,
                tm.options,
                MethodContext(total_steps(len(self.features), train_cfg)[1]),
            ),
            progress=self.progress,
        )
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        delta = subtract(tm.arrays(), global_arrays)
        self.rounds_joined += 1
        metrics: dict[str, float] = {
            "train_loss": _last_loss(result.state.history),
            "steps": float(result.state.step),
            "train_words": float(result.state.train_words),
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            "flops": estimate_flops(tm.model, _tokens_trained(self.features, result.epochs)),
            "rounds_joined": float(self.rounds_joined),
        }
        privacy = cfg.federation.privacy
        if privacy is not None:
            delta, scale = privatize(delta, privacy.clip_norm, privacy.noise_multiplier)
            metrics["dp_clip_scale"] = scale
            metrics["dp_noise_multiplier"] = privacy.noise_multiplier
            metrics["dp_epsilon"] = epsilon_spent(
                privacy.noise_multiplier, self.rounds_joined, privacy.delta
            )
            metrics["dp_delta"] = privacy.delta
        metrics["update_bytes"] = float(nbytes(delta))
        return LocalResult(delta, len(self.examples), metrics)


def _last_loss(history: list[dict[str, Any]]) -> float:
    losses = [h["loss"] for h in history if h.get("type") == "train"]
    return float(losses[-1]) if losses else float("nan")


def _tokens_trained(features: Sequence[Any], epochs: float) -> float:
    return float(np.sum([len(f) for f in features])) * epochs
