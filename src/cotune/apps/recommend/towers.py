"""The two towers: one sentence encoder reads the user's recent history (user tower) and an
item's text (item tower), fine-tuned so that a user's next choice scores above other items.

Training pairs are (text of the history before position j, text of item j) drawn from each
user's training sequence; the contrastive trainer of `cotune.retrieval` supplies in-batch
negatives, and each pair may carry a hard negative: a warm item whose frozen embedding is close
to the positive's but that the user never chose. LoRA (peft, through cotune's method) is an
option; its update is merged before saving, so the saved encoder is a plain model.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from cotune.apps.recommend.baselines import item_index
from cotune.apps.recommend.config import RecommendConfig
from cotune.apps.recommend.splits import Split
from cotune.retrieval.contrastive import ContrastiveConfig, fine_tune
from cotune.retrieval.encoder import SentenceEncoder

SEPARATOR = " | "
CACHE_SIZE = 20_000  # user vectors remembered by TowerScorer (about 30 MB at 384 dims)


def history_text(history: Sequence[str], texts: dict[str, str], history_len: int) -> str:
    """The user tower's input: the most recent items first, so that truncation to the
    tower's max_length drops the oldest."""
    recent = [texts[i] for i in reversed(history[-history_len:]) if i in texts]
    return SEPARATOR.join(recent)


def training_pairs(
    split: Split,
    texts: dict[str, str],
    cfg: RecommendConfig,
    item_vectors: np.ndarray | None = None,
) -> tuple[list[tuple[str, str]], list[str | None] | None]:
    """Up to `pairs_per_user` (history, next item) pairs per user, seeded, and (optionally)
    one hard negative per pair."""
    rng = random.Random(cfg.train.seed)
    idx = item_index(split.items)
    warm = sorted(split.warm_items)
    pairs: list[tuple[str, str]] = []
    positives: list[tuple[str, str]] = []  # (user, item) per pair
    for user in sorted(split.train):
        seq = split.train[user]
        positions = list(range(1, len(seq)))
        for j in rng.sample(positions, min(cfg.train.pairs_per_user, len(positions))):
            pairs.append((history_text(seq[:j], texts, cfg.model.history_len), texts[seq[j]]))
            positives.append((user, seq[j]))
    if not cfg.train.hard_negatives or item_vectors is None:
        return pairs, None
    warm_rows = np.array([idx[i] for i in warm])
    warm_vectors = item_vectors[warm_rows]
    chosen = {u: set(split.full_history.get(u, split.train[u])) for u in split.train}
    negatives: list[str | None] = []
    for user, item in positives:
        sims = warm_vectors @ item_vectors[idx[item]]
        # ranks 3..30 of the look-alikes: the nearest few are often near-duplicates the user
        # might well have liked (false negatives hurt more than easy ones help)
        near = [warm[r] for r in np.argsort(-sims)[3:30] if warm[r] not in chosen[user]]
        negatives.append(texts[rng.choice(near)] if near else None)
    return pairs, negatives


def apply_lora(encoder: SentenceEncoder, cfg: RecommendConfig) -> None:
    from peft import LoraConfig, get_peft_model

    from cotune.methods.targets import layout_of, resolve_targets

    names = layout_of(encoder.model, "target_modules").attention
    targets = resolve_targets(encoder.model, names, "target_modules")
    lora = LoraConfig(
        r=cfg.method.r,
        lora_alpha=cfg.method.alpha,
        lora_dropout=cfg.method.dropout,
        target_modules=targets.regex,
    )
    encoder.model = get_peft_model(encoder.model, lora)


def train_towers(
    encoder: SentenceEncoder,
    split: Split,
    texts: dict[str, str],
    cfg: RecommendConfig,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Fine-tune `encoder` in place; returns training statistics."""
    import time

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    frozen = None
    if cfg.train.hard_negatives:
        frozen = encoder.encode([texts[i] for i in split.items])
    pairs, negatives = training_pairs(split, texts, cfg, frozen)
    if cfg.method.name == "lora":
        apply_lora(encoder, cfg)
    trainable = sum(p.numel() for p in encoder.model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in encoder.model.parameters())
    start = time.perf_counter()
    losses = fine_tune(
        encoder,
        pairs,
        hard_negatives=negatives,
        config=ContrastiveConfig(
            epochs=cfg.train.epochs,
            batch_size=cfg.train.batch_size,
            lr=cfg.train.lr,
            seed=cfg.train.seed,
            max_steps=cfg.train.max_steps,
        ),
        progress=progress,
    )
    seconds = time.perf_counter() - start
    if cfg.method.name == "lora":
        encoder.model = encoder.model.merge_and_unload()
    encoder.model.eval()
    return {
        "pairs": len(pairs),
        "hard_negatives": sum(n is not None for n in negatives or []),
        "steps": len(losses),
        "first_loss": losses[0] if losses else None,
        "last_loss": float(np.mean(losses[-10:])) if losses else None,
        "train_seconds": seconds,
        "trainable_params": trainable,
        "params_total": total,
    }


class TowerScorer:
    """Cosine between the user tower's vector and every item tower vector."""

    def __init__(
        self,
        encoder: SentenceEncoder,
        item_vectors: np.ndarray,
        texts: dict[str, str],
        history_len: int,
        name: str = "two-tower",
    ) -> None:
        self.name = name
        self.encoder, self.vectors, self.texts = encoder, item_vectors, texts
        self.history_len = history_len
        self._cache: dict[str, np.ndarray] = {}

    def user_vectors(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
        """One unit vector per history (zero for an empty one). Vectors are remembered by
        their input text: evaluation scores the same histories for the tower, the hybrid and
        the re-ranker, and the encoder is the slow part."""
        queries = [history_text(h, self.texts, self.history_len) for h in histories]
        todo = sorted({q for q in queries if q and q not in self._cache})
        if todo:
            if len(self._cache) + len(todo) > CACHE_SIZE:
                self._cache.clear()
            self._cache.update(zip(todo, self.encoder.encode(todo), strict=True))
        out = np.zeros((len(queries), self.vectors.shape[1]), dtype=np.float32)
        for r, q in enumerate(queries):
            if q:
                out[r] = self._cache[q]
        return out

    def score(self, users: Sequence[str], histories: Sequence[Sequence[str]]) -> np.ndarray:
        return self.user_vectors(histories) @ self.vectors.T
