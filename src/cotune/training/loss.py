"""Task losses as sums, divided once by the units of the whole accumulated step.

Summing per micro-batch and dividing by the labelled units of the whole optimizer step makes
gradient accumulation exact: 4 micro-batches of 8 give the gradient of one batch of 32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cotune.tasks.base import IGNORE

LossFn = Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor]


def count_units(batch: dict[str, torch.Tensor]) -> int:
    """What the loss averages over: labelled tokens, examples, or example x label cells."""
    labels = batch["labels"]
    if labels.is_floating_point():
        return int(labels.numel())
    if labels.dim() == 2:
        return int((labels != IGNORE).sum())
    return int(labels.shape[0])


def loss_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed loss: token or sequence cross-entropy, or multi-label BCE."""
    if labels.is_floating_point():
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum")
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        labels.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )


def task_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    inputs: dict[str, Any] = {k: v for k, v in batch.items() if k != "labels"}
    return loss_from_logits(model(**inputs).logits, batch["labels"])
