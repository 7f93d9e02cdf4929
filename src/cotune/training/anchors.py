"""Penalties that pull a warm-started model towards its parent's weights, as a loop callback.

L2-SP (Li et al. 2018): alpha/2 * sum (w - w0)^2 over the weights the parent had.
EWC (Kirkpatrick et al. 2017): lambda/2 * sum F (w - w0)^2, F the diagonal Fisher information
of the parent on the earlier data, normalised to mean 1 so that lambda and alpha share a scale.

The gradient of the penalty, strength * F * (w - w0), is added to each weight's gradient after
clipping, just before the optimizer step (the loop's `on_before_step` hook): the same as adding
the penalty to the step's mean task loss, except that clipping bounds only the noisy task
gradient. Clipped together, a large Fisher entry's pull shrank every other gradient of the step
(measured: EWC then moved the weights further from the parent than no penalty did).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cotune.tasks.base import IGNORE, Feature, to_device

FISHER_FILE = "fisher.safetensors"


def plain_name(name: str) -> str | None:
    """A parameter's name in the plain task model, seen through a peft wrapper (None for peft's
    frozen copy of a head it trains)."""
    if ".original_module." in name:
        return None
    name = name.removeprefix("base_model.model.")
    return name.replace(".base_layer.", ".").replace(".modules_to_save.default.", ".")


class AnchorPenalty:
    """Loop callback: adds strength * weight * (w - w0) to the gradient of every trainable
    weight the parent had. A head that grew is anchored on its parent's rows only."""

    def __init__(
        self,
        anchor: dict[str, torch.Tensor],
        strength: float,
        importance: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.anchor = anchor
        self.strength = strength
        self.importance = importance
        self.matched: list[str] = []

    def bind(self, model: nn.Module) -> AnchorPenalty:
        """Resolve which of the model's trainable parameters have an anchor (after any wrap)."""
        self._params: list[tuple[nn.Parameter, torch.Tensor, torch.Tensor | None]] = []
        device = next(model.parameters()).device
        for name, p in model.named_parameters():
            key = plain_name(name)
            if not p.requires_grad or key is None or key not in self.anchor:
                continue
            w0 = self.anchor[key].to(device)
            if w0.shape[1:] != p.shape[1:] or w0.shape[0] > p.shape[0]:
                continue
            f = None if self.importance is None else self.importance.get(key)
            self._params.append((p, w0, None if f is None else f.to(device)))
            self.matched.append(key)
        return self

    def penalty(self) -> float:
        """The penalty's current value (for tests and logs)."""
        total = 0.0
        for p, w0, f in self._params:
            d = (p.detach()[: w0.shape[0]] - w0) ** 2
            total += float((d if f is None else f * d).sum())
        return 0.5 * self.strength * total

    def on_before_step(self, state: Any, model: nn.Module) -> None:
        with torch.no_grad():
            for p, w0, f in self._params:
                rows = w0.shape[0]
                g = p.detach()[:rows] - w0
                if f is not None:
                    g = g * f
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                p.grad[:rows] += self.strength * g

    def on_step_end(self, state: Any, model: nn.Module) -> None:
        pass


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights to anchor on, by plain name (taken before the method wraps the model)."""
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def diagonal_fisher(
    model: nn.Module,
    features: Sequence[Feature],
    collate: Callable[[Sequence[Feature]], dict[str, torch.Tensor]],
    *,
    multi_label: bool = False,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Diagonal Fisher information E_x E_{y~p(y|x)} [(d log p(y|x) / dw)^2], one example at a
    time (the square of a batch's summed gradient is not the sum of the squares). y is sampled
    from the model, which makes this the Fisher proper, not the 'empirical' one of the gold
    labels. Normalised to mean 1 over all entries."""
    gen = torch.Generator().manual_seed(seed)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    was_training = model.training
    model.eval()  # no dropout: the information of the model as it predicts
    for f in features:
        batch = to_device(collate([f]), model)
        labels = batch.pop("labels", None)
        logits = model(**batch).logits.float()
        log_lik = _sampled_log_likelihood(logits, labels, multi_label, gen)
        model.zero_grad(set_to_none=True)
        log_lik.backward()
        for name, p in params.items():
            if p.grad is not None:
                fisher[name] += p.grad.detach() ** 2
        if progress is not None:
            progress(1)
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    count = max(1, len(features))
    total = sum(float(v.sum()) for v in fisher.values())
    entries = max(1, sum(v.numel() for v in fisher.values()))
    mean = total / (count * entries)
    return {k: v / (count * mean) if mean > 0 else v / count for k, v in fisher.items()}


def _sampled_log_likelihood(
    logits: torch.Tensor, labels: torch.Tensor | None, multi: bool, gen: torch.Generator
) -> torch.Tensor:
    if multi:
        p = torch.sigmoid(logits.detach().cpu())
        y = torch.bernoulli(p, generator=gen).to(logits.device)
        return -nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum")
    logp = torch.log_softmax(logits, dim=-1)
    flat = logp.reshape(-1, logp.shape[-1])
    y = torch.multinomial(flat.detach().exp().cpu(), 1, generator=gen).squeeze(-1)
    picked = flat.gather(1, y.to(flat.device).unsqueeze(-1)).squeeze(-1)
    if logits.dim() == 3 and labels is not None:  # tokens: only the positions a word owns
        picked = picked[labels.reshape(-1) != IGNORE]
    return picked.sum()


def save_fisher(fisher: dict[str, torch.Tensor], folder: Path, meta: dict[str, str]) -> None:
    from safetensors.torch import save_file

    tmp = folder / f".{FISHER_FILE}.partial"
    save_file({k: v.contiguous() for k, v in fisher.items()}, str(tmp), metadata=meta)
    tmp.replace(folder / FISHER_FILE)


def load_fisher(folder: Path) -> dict[str, torch.Tensor] | None:
    path = folder / FISHER_FILE
    if not path.is_file():
        return None
    from safetensors.torch import load_file

    return load_file(str(path))
