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
    return torch.optim.AdamW(param_groups, lr=cfg.lr, **adamw_kernel(cfg.adamw, param_groups))


def adamw_kernel(name: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    """AdamW's implementation: `fused` (one kernel over all tensors, CPU and CUDA), `foreach`
    (batched tensor ops) or `for-loop` (one tensor at a time: torch's choice on the CPU). The
    update is the same algorithm; the kernels round differently in the last bits. `auto` takes
    fused where every trainable tensor is a floating-point tensor on one device."""
    if name == "fused":
        return {"fused": True}
    if name == "foreach":
        return {"foreach": True}
    if name == "for-loop":
        return {"foreach": False}
    params = [p for g in groups for p in g["params"]]
    devices = {p.device.type for p in params}
    fusable = len(devices) == 1 and devices <= {"cpu", "cuda"}
    fusable = fusable and all(p.is_floating_point() and not p.is_sparse for p in params)
    return {"fused": True} if fusable else {}


def freeze_word_embeddings(model: nn.Module) -> int:
    """Keep the word-embedding matrix fixed: no gradient, no AdamW state for the largest
    tensor of a small encoder (11.7 M of MiniLM-L6's 22.7 M weights). Returns the number of
    weights frozen (0 when the model has no input embeddings to find)."""
    get = getattr(model, "get_input_embeddings", None)
    embeddings = get() if callable(get) else None
    weight = getattr(embeddings, "weight", None)
    if not isinstance(weight, torch.Tensor) or not weight.requires_grad:
        return 0
    weight.requires_grad_(False)
    return int(weight.numel())


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return LambdaLR(optimizer, factor)
