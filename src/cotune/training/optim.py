"""AdamW with decoupled weight decay off biases and norms, and linear warm-up then decay."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from cotune.config.schema import TrainConfig

NO_DECAY = ("bias", "LayerNorm.weight", "layernorm.weight", "layer_norm.weight", "norm.weight")
# IA3 scaling vectors (peft names them `...ia3_l.<adapter>`) start at 1: decay would pull them to 0
NO_DECAY_PARTS = ("ia3_l",)
HEAD_NAMES = ("classifier", "score", "qa_outputs")


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        parts = name.split(".")
        decay = not (
            any(name.endswith(nd) for nd in NO_DECAY) or any(p in parts for p in NO_DECAY_PARTS)
        )
        head = any(part in HEAD_NAMES for part in name.split("."))
        groups.setdefault((decay, head), []).append(p)
    if not groups:
        raise ValueError("the model has no trainable parameters: check the method's options")
    param_groups: list[dict[str, Any]] = []
    for (decay, head), params in sorted(groups.items()):
        lr = cfg.head_lr if (head and cfg.head_lr) else cfg.lr
        param_groups.append(
            {"params": params, "weight_decay": cfg.weight_decay if decay else 0.0, "lr": lr}
        )
    return torch.optim.AdamW(param_groups, lr=cfg.lr)


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return LambdaLR(optimizer, factor)
