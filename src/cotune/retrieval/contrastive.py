"""Contrastive fine-tuning of a SentenceEncoder on (anchor, positive) pairs.

The loss is MultipleNegativesRankingLoss (Henderson et al. 2017; sentence-transformers): in a
batch of B pairs, anchor i must score its own positive above the B-1 other positives (in-batch
negatives) and above any hard negatives given, with cross-entropy over scaled cosines. One
trainer serves every app: the assistant pairs (customer utterance, FAQ question), the
recommender pairs (user history text, next item text).

Two anchors with the same positive in one batch would make a correct match count as a wrong
one, so batches are packed to hold each positive text once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from cotune.errors import DataError
from cotune.retrieval.encoder import SentenceEncoder
from cotune.training.progress import add_task, make_progress


@dataclass(frozen=True)
class ContrastiveConfig:
    """Settings of `fine_tune`. `scale` is the inverse temperature of the cosines (20 in
    sentence-transformers); `symmetric` also scores positive -> anchor."""

    epochs: int = 1
    batch_size: int = 32
    lr: float = 2e-5
    scale: float = 20.0
    warmup_ratio: float = 0.1
    seed: int = 0
    symmetric: bool = False
    max_steps: int | None = None


def _batches(
    pairs: Sequence[tuple[str, str]], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """Shuffled batches in which no positive text appears twice."""
    order = list(range(len(pairs)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    open_batches: list[tuple[list[int], set[str]]] = []
    for i in order:
        positive = pairs[i][1]
        for members, seen in open_batches:
            if positive not in seen:
                members.append(i)
                seen.add(positive)
                if len(members) == batch_size:
                    batches.append(members)
                    open_batches.remove((members, seen))
                break
        else:
            open_batches.append(([i], {positive}))
    batches.extend(members for members, _ in open_batches if len(members) > 1)
    rng.shuffle(batches)
    return batches


def fine_tune(
    encoder: SentenceEncoder,
    pairs: Sequence[tuple[str, str]],
    *,
    hard_negatives: Sequence[str | None] | None = None,
    config: ContrastiveConfig | None = None,
    progress: bool | None = None,
) -> list[float]:
    """Train `encoder` in place on (anchor, positive) pairs; returns the loss per step.

    `hard_negatives[i]` (optional, None to skip) is a text that looks like pair i's positive but
    is wrong; every anchor in the batch is scored against all of them as extra negatives.
    """
    cfg = config or ContrastiveConfig()
    pairs = [(str(a), str(p)) for a, p in pairs]
    if len(pairs) < 2:
        raise DataError(
            f"contrastive fine-tuning needs at least 2 pairs, got {len(pairs)}",
            fix="give more (anchor, positive) pairs: in-batch negatives come from other pairs",
        )
    if hard_negatives is not None and len(hard_negatives) != len(pairs):
        raise ValueError(f"{len(hard_negatives)} hard negatives for {len(pairs)} pairs")
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    epochs = [_batches(pairs, max(2, cfg.batch_size), rng) for _ in range(cfg.epochs)]
    total = sum(len(e) for e in epochs)
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    model = encoder.model
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    warmup = max(1, int(cfg.warmup_ratio * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))),
    )
    losses: list[float] = []
    model.train()
    with make_progress(progress) as bar:
        task = add_task(bar, "contrastive", total)
        for batch in (b for epoch in epochs for b in epoch):
            if len(losses) >= total:
                break
            anchors = encoder.embed([pairs[i][0] for i in batch])
            candidates = [pairs[i][1] for i in batch]
            if hard_negatives is not None:
                candidates += [n for i in batch if (n := hard_negatives[i]) is not None]
            targets = encoder.embed(candidates)
            scores = cfg.scale * anchors @ targets.T
            labels = torch.arange(len(batch), device=scores.device)
            loss = torch.nn.functional.cross_entropy(scores, labels)
            if cfg.symmetric:
                loss = (
                    loss + torch.nn.functional.cross_entropy(scores[:, : len(batch)].T, labels)
                ) / 2
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
            bar.update(task, advance=1, info=f"loss {losses[-1]:.3f}")
    model.eval()
    return losses
