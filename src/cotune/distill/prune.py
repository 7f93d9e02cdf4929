"""Structured pruning of FFN neurons by importance, before the (distillation) recovery training.

Importance of a neuron is the first-order Taylor estimate of the loss change when it is removed,
|sum over tokens of activation x d loss / d activation|, accumulated over a few labelled batches
(Molchanov et al. 2017; Michel et al. 2019 use the same estimate for heads).

Why every layer keeps the same number of neurons: the pruned model must load with plain
`transformers` (`AutoModelFor*.from_pretrained`), whose BERT config has one `intermediate_size`
for all layers. So `ffn=0.25` drops the 25% least important neurons *of each layer* (which ones
differs per layer) and `intermediate_size` is set to what is left.

Attention heads are not pruned: transformers 5 removed `prune_heads` and the `pruned_heads`
config key, and BERT derives the head width from hidden_size / num_attention_heads, so a model
with fewer heads per layer cannot be described by a config plain transformers loads. A config
asking for head pruning is refused with that reason rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from cotune.data.examples import Example
from cotune.distill.config import PruneConfig
from cotune.distill.students import encoder_layers
from cotune.errors import ConfigError
from cotune.training.loss import task_loss

BATCH = 16


def ffn_importance(
    model: nn.Module, task: Any, examples: Sequence[Example], batches: int
) -> list[torch.Tensor]:
    """Per layer, a (intermediate_size,) tensor of Taylor importance scores."""
    blocks = encoder_layers(model)
    scores = [torch.zeros(b.intermediate.dense.out_features) for b in blocks]
    acts: list[torch.Tensor] = []

    def keep(_: nn.Module, __: Any, out: torch.Tensor) -> None:
        out.retain_grad()
        acts.append(out)

    hooks = [b.intermediate.register_forward_hook(keep) for b in blocks]
    was_training = model.training
    model.eval()  # no dropout noise in the scores
    try:
        features = task.encode(list(examples[: batches * BATCH]))
        for start in range(0, len(features), BATCH):
            acts.clear()
            model.zero_grad(set_to_none=True)
            task_loss(model, task.collate(features[start : start + BATCH])).backward()
            for i, a in enumerate(acts):
                assert a.grad is not None
                scores[i] += (a * a.grad).detach().flatten(0, -2).sum(0).abs()
    finally:
        for h in hooks:
            h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return scores


def _slice_linear(layer: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A new Linear keeping `index` along output rows (dim 0) or input columns (dim 1)."""
    w = layer.weight.detach().index_select(dim, index).clone()
    bias = layer.bias is not None
    new = nn.Linear(w.shape[1], w.shape[0], bias=bias)
    new.weight.data.copy_(w)
    if bias and layer.bias is not None:
        b = layer.bias.detach()
        new.bias.data.copy_(b.index_select(0, index) if dim == 0 else b)
    return new


def prune_ffn(model: nn.Module, scores: Sequence[torch.Tensor], fraction: float) -> int:
    """Keep the most important (1 - fraction) neurons of every layer; returns the new size."""
    blocks = encoder_layers(model)
    size = blocks[0].intermediate.dense.out_features
    kept = max(1, round(size * (1 - fraction)))
    for block, score in zip(blocks, scores, strict=True):
        index = torch.topk(score, kept).indices.sort().values
        block.intermediate.dense = _slice_linear(block.intermediate.dense, index, 0)
        block.output.dense = _slice_linear(block.output.dense, index, 1)
    model.config.intermediate_size = kept  # type: ignore[union-attr]
    return kept


def prune_model(
    model: nn.Module, task: Any, examples: Sequence[Example], cfg: PruneConfig
) -> dict[str, Any]:
    """Prune `model` in place as `cfg` says; returns what was done (for metrics.json)."""
    if cfg.heads > 0:
        raise ConfigError(
            "attention-head pruning is not available: transformers 5 has no prune_heads / "
            "pruned_heads, so a model with fewer heads would not load with plain transformers",
            where="distill.prune.heads",
            fix="set it to 0 and prune FFN neurons (distill.prune.ffn), or use distill.layers",
        )
    if not examples:
        raise ConfigError("pruning needs labelled dev examples to score importance", where="data")
    before = sum(p.numel() for p in model.parameters())
    size = encoder_layers(model)[0].intermediate.dense.out_features
    kept = prune_ffn(model, ffn_importance(model, task, examples, cfg.batches), cfg.ffn)
    return {
        "ffn_fraction": cfg.ffn,
        "intermediate_size": {"before": size, "after": kept},
        "params": {"before": before, "after": sum(p.numel() for p in model.parameters())},
    }
