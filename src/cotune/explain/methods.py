"""Attribution methods, one registry: name -> function giving one score per input position.

* `ig`: Captum's LayerIntegratedGradients on the word-embedding layer, from the baseline
  `[CLS] [PAD] ... [PAD] [SEP]` (same length, special tokens kept) to the input, attributing the
  target's logit (not its probability, which saturates). Completeness: the scores sum to
  logit(input) - logit(baseline); the gap is Captum's convergence delta, reported.
* `grad-x-input`: gradient x input on the same layer (one backward pass).
* `occlusion`: each word replaced by [PAD] (the IG baseline token), the drop in the logit
  (one batched forward over the words).
* `attention`: last-layer attention from the target's positions ([CLS] for a label), mean over
  heads: a comparison point, not an explanation method (non-negative, no sign).
* `random`: uniform scores, seeded by the input: the floor a method must beat.

Adding a method = one function + one `register` call.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from cotune.errors import ConfigError
from cotune.explain.layout import Target, Window
from cotune.explain.model import device_of, eager_attention, word_embeddings


@dataclass(frozen=True)
class Options:
    steps: int = 50  # integration steps of `ig` (Gauss-Legendre)
    internal_batch_size: int = 16  # rows per IG forward/backward, bounds memory on long texts
    seed: int = 0  # `random`


@dataclass
class TokenScores:
    """One score per position of a window, plus what `ig` knows about its own accuracy."""

    scores: torch.Tensor  # [positions], float
    logit: float | None = None  # target logit of the input
    baseline_logit: float | None = None  # ... and of the baseline (ig)
    delta: float | None = None  # sum(scores) - (logit - baseline_logit)


@dataclass(frozen=True)
class Context:
    model: Any
    pad_id: int
    options: Options


AttributeFn = Callable[[Context, Window, Target], TokenScores]


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    attribute: AttributeFn
    signed: bool  # scores carry a sign (support vs. against the target)


METHODS: dict[str, Method] = {}


def register(name: str, description: str, *, signed: bool) -> Callable[[AttributeFn], AttributeFn]:
    def add(fn: AttributeFn) -> AttributeFn:
        METHODS[name] = Method(name, description, fn, signed)
        return fn

    return add


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(
            f"unknown attribution method {name!r}",
            where="--method",
            fix=f"use one of: {', '.join(METHODS)}",
        )
    return METHODS[name]


def _inputs(ctx: Context, win: Window) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    device = device_of(ctx.model)
    ids = torch.tensor([win.input_ids], device=device)
    baseline = torch.tensor(
        [[t if w < 0 else ctx.pad_id for t, w in zip(win.input_ids, win.word_of, strict=True)]],
        device=device,
    )
    return ids, baseline, torch.ones_like(ids)


def _forward(ctx: Context, target: Target) -> Callable[..., torch.Tensor]:
    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = ctx.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return target.logit(logits.float())

    return forward


@register("ig", "integrated gradients on the word embeddings (Captum)", signed=True)
def integrated_gradients(ctx: Context, win: Window, target: Target) -> TokenScores:
    from captum.attr import LayerIntegratedGradients

    ids, baseline, mask = _inputs(ctx, win)
    forward = _forward(ctx, target)
    lig = LayerIntegratedGradients(forward, word_embeddings(ctx.model))
    attributions, delta = lig.attribute(
        ids,
        baselines=baseline,
        additional_forward_args=(mask,),
        n_steps=ctx.options.steps,
        internal_batch_size=ctx.options.internal_batch_size,
        return_convergence_delta=True,
    )
    with torch.no_grad():
        ends = forward(torch.cat([ids, baseline]), torch.cat([mask, mask]))
    return TokenScores(
        attributions.sum(dim=-1)[0].detach().float().cpu(),
        float(ends[0]),
        float(ends[1]),
        float(delta[0]),
    )


@register("grad-x-input", "gradient x input on the word embeddings (one backward)", signed=True)
def gradient_x_input(ctx: Context, win: Window, target: Target) -> TokenScores:
    from captum.attr import LayerGradientXActivation

    ids, _, mask = _inputs(ctx, win)
    layer = LayerGradientXActivation(_forward(ctx, target), word_embeddings(ctx.model))
    attributions = layer.attribute(ids, additional_forward_args=(mask,))
    return TokenScores(attributions.sum(dim=-1)[0].detach().float().cpu())


@register("occlusion", "drop in the logit when a word is replaced by [PAD]", signed=True)
@torch.no_grad()
def occlusion(ctx: Context, win: Window, target: Target) -> TokenScores:
    ids, _, _ = _inputs(ctx, win)
    words = sorted({w for w in win.word_of if w >= 0})
    forward = _forward(ctx, target)
    full = forward(ids, torch.ones_like(ids))
    scores = torch.zeros(len(win.input_ids))
    word_of = torch.tensor(win.word_of)
    for b in range(0, len(words), 32):
        chunk = words[b : b + 32]
        batch = ids.repeat(len(chunk), 1)
        for row, w in enumerate(chunk):
            batch[row, word_of == w] = ctx.pad_id
        drops = (full - forward(batch, torch.ones_like(batch))).float().cpu()
        for row, w in enumerate(chunk):
            where = word_of == w
            scores[where] = drops[row] / int(where.sum())  # the word's pieces share its drop
    return TokenScores(scores, float(full[0]))


@register("attention", "last-layer attention from the target, mean over heads", signed=False)
@torch.no_grad()
def attention(ctx: Context, win: Window, target: Target) -> TokenScores:
    ids, _, mask = _inputs(ctx, win)
    with eager_attention(ctx.model):
        out = ctx.model(input_ids=ids, attention_mask=mask, output_attentions=True)
    last = out.attentions[-1][0]  # [heads, queries, keys]; prefix tuning adds leading keys
    last = last[:, :, -ids.shape[1] :]
    rows = target.positions if target.positions is not None else [0]
    return TokenScores(last[:, rows, :].mean(dim=(0, 1)).float().cpu())


@register("random", "uniform random scores (seeded by the input): the floor", signed=False)
def random_scores(ctx: Context, win: Window, target: Target) -> TokenScores:
    key = zlib.crc32(repr((win.input_ids, target.label, target.positions)).encode())
    generator = torch.Generator().manual_seed(key + ctx.options.seed)
    return TokenScores(torch.rand(len(win.input_ids), generator=generator))
