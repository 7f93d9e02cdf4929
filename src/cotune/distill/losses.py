"""Distillation losses, summed over labelled units like the task losses (training/loss.py).

Sums, not means: the loop divides once by the labelled units of the whole accumulated step, so
gradient accumulation stays exact. Token classification distils only at labelled positions
(labels != -100, the first sub-token of each word), the very positions the hard loss and the
metrics use. The soft term is KL(teacher_T || student_T) * T^2 (Hinton et al.), so its gradient
scale does not shrink as the temperature grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cotune.tasks.base import IGNORE
from cotune.training.loss import LossFn, loss_from_logits


def soft_loss(
    student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Summed soft-target loss over the units `labels` marks (see module docstring)."""
    t = temperature
    if labels.is_floating_point():  # multi-label: per-cell binary KL against sigmoid targets
        target = torch.sigmoid(teacher.float() / t)
        s = student.float() / t
        bce = F.binary_cross_entropy_with_logits(s, target, reduction="none")
        ent = F.binary_cross_entropy(target, target, reduction="none")
        return (bce - ent).sum() * t * t
    s, te = student.float(), teacher.float()
    if labels.dim() == 2:  # token level: keep labelled positions only
        keep = labels != IGNORE
        s, te = s[keep], te[keep]
    kl = F.kl_div(
        F.log_softmax(s / t, dim=-1),
        F.log_softmax(te / t, dim=-1),
        log_target=True,
        reduction="sum",
    )
    return kl * t * t


def hidden_loss(
    student: Sequence[torch.Tensor],
    teacher: Sequence[torch.Tensor],
    mapping: Sequence[int],
    labels: torch.Tensor,
    attention_mask: torch.Tensor,
) -> torch.Tensor:
    """Summed MSE between student layer i's output and teacher layer mapping[i]'s output.

    Per unit: token level, the mean squared difference over the hidden width at each labelled
    position; sequence level, that mean averaged over the example's real tokens.
    """
    total = torch.zeros((), device=attention_mask.device)
    for i, j in enumerate(mapping):
        d = (student[i + 1].float() - teacher[j + 1].float()).pow(2).mean(-1)  # (B, L)
        if labels.dim() == 2 and not labels.is_floating_point():
            total = total + d[labels != IGNORE].sum()
        else:
            m = attention_mask.float()
            total = total + ((d * m).sum(-1) / m.sum(-1).clamp(min=1)).sum()
    return total


def distill_loss(
    teacher: nn.Module,
    *,
    temperature: float,
    alpha: float,
    hidden_weight: float = 0.0,
    mapping: Sequence[int] | None = None,
) -> LossFn:
    """A `loss_fn(model, batch)` for `fit`: alpha * soft + (1 - alpha) * hard (+ hidden)."""
    teacher.eval()
    want_hidden = hidden_weight > 0 and mapping is not None

    def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        labels = batch["labels"]
        inputs: dict[str, Any] = {k: v for k, v in batch.items() if k != "labels"}
        with torch.no_grad():
            t_out = teacher(**inputs, output_hidden_states=want_hidden)
        s_out = model(**inputs, output_hidden_states=want_hidden)
        total = (1 - alpha) * loss_from_logits(s_out.logits, labels)
        if alpha > 0:
            total = total + alpha * soft_loss(s_out.logits, t_out.logits, labels, temperature)
        if want_hidden and mapping is not None:
            h = hidden_loss(
                s_out.hidden_states, t_out.hidden_states, mapping, labels, inputs["attention_mask"]
            )
            total = total + hidden_weight * h
        return total

    return loss
