"""Per-example gradient clipping by ghost clipping (Li et al. 2022), on Opacus's hooks.

Opacus's norm samplers give each example's gradient norm from the activations and output
gradients of every Linear / Embedding / LayerNorm without materialising per-example gradients
(those would be 47 MB per example for MiniLM's word embeddings alone). A second backward of
sum_i c_i * loss_i, with c_i = min(1, C / norm_i), then leaves exactly the sum of the clipped
per-example gradients in `.grad`: the loop's own backward does that pass, so gradient
accumulation sums clipped gradients over micro-batches as it sums plain ones.

The hooks attach to the model's own modules (`GradSampleHooks...`, no wrapper module), so the
trained model keeps its weight names and saves like any other.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cotune.tasks.base import IGNORE

# module types whose per-example gradient norms Opacus computes exactly (ghost norm for Linear
# and Embedding, per-example gradients for LayerNorm); a trainable parameter anywhere else
# would be trained without a proof of its clipping
SUPPORTED = (nn.Linear, nn.Embedding, nn.LayerNorm)


def unsupported_modules(model: nn.Module) -> list[str]:
    """Names (and types) of modules holding trainable weights DP-SGD here cannot clip."""
    return [
        f"{name} ({type(m).__module__}.{type(m).__qualname__})"
        for name, m in model.named_modules()
        if any(p.requires_grad for p in m.parameters(recurse=False)) and type(m) not in SUPPORTED
    ]


def per_example_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One loss per row: its mean over what the row is scored on (labelled tokens, label
    cells, or the one class). A row's loss must not depend on other rows (a batch-wide mean
    would), or clipping would no longer bound what one row changes."""
    logits = logits.float()
    if labels.is_floating_point():
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(dim=1)
    if labels.dim() == 2:
        token = F.cross_entropy(
            logits.transpose(1, 2), labels, ignore_index=IGNORE, reduction="none"
        )
        counted = (labels != IGNORE).sum(dim=1).clamp(min=1)
        return token.sum(dim=1) / counted
    return F.cross_entropy(logits, labels, reduction="none")


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The batch as model kwargs, with position ids given per row.

    BERT's default position ids are one (1, length) row broadcast over the batch, so its
    position-embedding lookup has no per-example batch dimension and per-example gradients
    fail ("stack expects each tensor to be equal size"). An explicit (rows, length) tensor
    gives every row its own lookup; the values, and so the outputs, are the same.
    """
    inputs: dict[str, Any] = {k: v for k, v in batch.items() if k != "labels"}
    ids = batch["input_ids"]
    rows, length = ids.shape
    inputs["position_ids"] = (
        torch.arange(length, device=ids.device).unsqueeze(0).repeat(rows, 1).contiguous()
    )
    return inputs


class GhostClipper:
    """Clips each example's gradient (over all trainable weights) to `max_grad_norm`."""

    def __init__(self, model: nn.Module, max_grad_norm: float) -> None:
        bad = unsupported_modules(model)
        if bad:
            raise ValueError(f"no per-example gradient norm for {', '.join(bad[:5])}")
        from opacus.grad_sample.grad_sample_module_fast_gradient_clipping import (
            GradSampleHooksFastGradientClipping,
        )

        # the embeddings' inputs are token ids, which need no gradient: torch then warns, on
        # every run, that their full backward hooks see output gradients only, which is all
        # Opacus reads
        warnings.filterwarnings(
            "ignore", message="Full backward hook is firing when gradients are computed with"
        )
        self.max_grad_norm = max_grad_norm
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.params = [p for _, p in named]
        self.names = {id(p): n for n, p in named}
        self.hooked = [
            m for m in model.modules() if any(p.requires_grad for p in m.parameters(recurse=False))
        ]
        # The norm pass needs every hooked module's output gradient, not weight gradients.
        # Differentiating w.r.t. the lowest trainable weights (the embeddings) runs every
        # module's backward on the way down but skips the other weights' gradient products
        # (a third of a full fine-tuning backward); without trainable embeddings, all weights.
        # A module off that path would get no norm: `per_example_norms` refuses that.
        self.roots = [
            p
            for m in self.hooked
            if isinstance(m, nn.Embedding)
            for p in m.parameters(recurse=False)
            if p.requires_grad
        ] or self.params
        # loss_reduction="sum": the norm pass backpropagates sum_i loss_i, so the hooks see
        # each example's own gradient, unscaled
        self.hooks = GradSampleHooksFastGradientClipping(
            model,
            batch_first=True,
            loss_reduction="sum",
            strict=True,
            max_grad_norm=max_grad_norm,
            use_ghost_clipping=True,
        )
        self.hooks.disable_hooks()  # on only inside `clipped_loss`; evaluation runs without

    def per_example_norms(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> Any:
        """(per-example losses, still in the graph; their gradient norms). `.grad` is not
        touched: the norm pass only feeds Opacus's hooks."""
        self.hooks.enable_hooks()
        try:
            logits = model(**model_inputs(batch)).logits
            losses = per_example_losses(logits, batch["labels"])
            torch.autograd.grad(losses.sum(), self.roots, retain_graph=True)
        finally:
            self.hooks.disable_hooks()
        squared = torch.zeros(losses.shape[0], device=losses.device)
        missing = []
        for p in self.params:
            norm = getattr(p, "_norm_sample", None)
            if norm is None:
                missing.append(self.names[id(p)])
            elif norm.numel():
                squared += norm.to(squared.device, torch.float32) ** 2
            p._norm_sample = None  # type: ignore[attr-defined]
            p._forward_counter = 0  # type: ignore[attr-defined]
        for m in self.hooked:  # a module that got no gradient would keep stale activations
            if getattr(m, "activations", None):
                setattr(m, "activations", [])  # noqa: B010 (nn.Module's typed __setattr__)
        if missing:
            # an unclipped gradient would void the privacy guarantee: never train on
            raise RuntimeError(f"DP-SGD: no per-example gradient norm for {missing[:5]}")
        return losses, squared.sqrt()

    def clipped_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, norms). The loss's gradient is sum_i min(1, C / norm_i) * grad loss_i; its
        value is sum_i loss_i, so logged losses stay the plain training loss."""
        losses, norms = self.per_example_norms(model, batch)
        scale = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0).detach()
        weighted = (scale * losses).sum()
        return weighted + (losses.sum() - weighted).detach(), norms

    def close(self) -> None:
        """Remove the hooks and Opacus's attributes: the model is a plain model again."""
        self.hooks.cleanup()
        for m in self.hooked:
            if hasattr(m, "activations"):
                del m.activations
