"""Masked-LM data: texts -> features, whole-word / CJK-span masking, the loss and its evaluation.

Whole-word masking (BERT's later recipe): the pieces of a word are masked together, otherwise
"##ing" after "play" is guessed from its own word and teaches little. Chinese has no spaces and
BERT's tokenizer makes every CJK character a word, so whole-word masking would mask single
characters, which a model fills from the other half of the word. Without a segmenter, runs of
neighbouring CJK characters are masked together instead: span lengths 1..`cjk_span` drawn
geometrically (p=0.5, mean ~1.6 characters, close to the mean length of a Chinese word).

Randomness comes from torch's global generator, which the training loop seeds and checkpoints,
so a resumed run masks exactly as an uninterrupted one. The loss runs the output head only on
the masked positions (~15% of them): on a 30k+ vocabulary the head over every position costs
more than half the encoder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cotune.config.pretrain import MlmConfig
from cotune.tasks.base import IGNORE, Feature, to_device


def encode_texts(texts: Sequence[str], tokenizer: Any, max_length: int) -> list[Feature]:
    """One feature per text, or several for a text longer than the model, cut between words.

    `Feature.word_index[i]` is the word (within the feature) that position i belongs to, -1 for
    [CLS]/[SEP]; masking keeps the pieces of one word together.
    """
    budget = max_length - 2
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    enc = tokenizer(list(texts), add_special_tokens=False)
    features: list[Feature] = []
    for ti in range(len(texts)):
        ids: list[int] = enc["input_ids"][ti]
        words = [w if w is not None else -1 for w in enc.word_ids(ti)]
        start = 0
        while start < len(ids):
            end = min(start + budget, len(ids))
            # back up to a word boundary unless one word fills the whole window
            while end < len(ids) and end > start + 1 and words[end] == words[end - 1]:
                end -= 1
            if end == start + 1 and end < len(ids) and words[end] == words[start]:
                end = min(start + budget, len(ids))
            first = words[start]
            chunk_words = [w - first for w in words[start:end]]
            features.append(Feature([cls, *ids[start:end], sep], [], ti, [-1, *chunk_words, -1]))
            start = end
    return features


def cjk_token_ids(tokenizer: Any) -> torch.Tensor:
    """Boolean per id: is it a single CJK character (a unit of span masking)?"""
    from cotune.models.vocab import is_cjk

    flags = torch.zeros(len(tokenizer), dtype=torch.bool)
    for piece, i in tokenizer.get_vocab().items():
        if len(piece) == 1 and is_cjk(piece) and i < len(flags):
            flags[i] = True
    return flags


class MlmCollator:
    """Pads a batch and picks the positions to predict (80% [MASK], 10% random, 10% kept)."""

    def __init__(self, tokenizer: Any, cfg: MlmConfig) -> None:
        self.cfg = cfg
        self.pad_id = tokenizer.pad_token_id or 0
        self.mask_id = tokenizer.mask_token_id
        self.vocab_size = len(tokenizer)
        self.special = torch.tensor(sorted(set(tokenizer.all_special_ids)))
        self.cjk = cjk_token_ids(tokenizer)

    def units(self, feature: Feature) -> list[list[int]]:
        """Positions that are masked together: a word's pieces, or a run of CJK characters."""
        groups: dict[int, list[int]] = {}
        for pos, w in enumerate(feature.word_index):
            if w >= 0:
                groups.setdefault(w if self.cfg.whole_word else pos, []).append(pos)
        words = list(groups.values())
        if self.cfg.cjk_span <= 1:
            return words
        out: list[list[int]] = []
        k = 0
        while k < len(words):
            if not self._is_cjk(feature, words[k]):
                out.append(words[k])
                k += 1
                continue
            # geometric length, cut at cjk_span and at the end of the run of CJK characters
            length = 1
            while length < self.cfg.cjk_span and float(torch.rand(())) < 0.5:
                length += 1
            span = [words[k]]
            while len(span) < length and k + len(span) < len(words):
                nxt = words[k + len(span)]
                if not self._is_cjk(feature, nxt) or nxt[0] != span[-1][-1] + 1:
                    break
                span.append(nxt)
            out.append([p for w in span for p in w])
            k += len(span)
        return out

    def _is_cjk(self, feature: Feature, positions: list[int]) -> bool:
        return len(positions) == 1 and bool(self.cjk[feature.input_ids[positions[0]]])

    def choose(self, feature: Feature) -> list[int]:
        """Positions to predict: whole units in random order until ~mask_prob of the tokens."""
        units = self.units(feature)
        n_tokens = sum(len(u) for u in units)
        budget = max(1, round(n_tokens * self.cfg.mask_prob)) if n_tokens else 0
        chosen: list[int] = []
        for k in torch.randperm(len(units)).tolist():
            if len(chosen) >= budget:
                break
            if len(chosen) + len(units[k]) <= budget:
                chosen += units[k]
        if not chosen and units:  # every unit longer than the budget: take the shortest
            chosen = min(units, key=len)
        return chosen

    def __call__(self, features: Sequence[Feature]) -> dict[str, torch.Tensor]:
        width = max(len(f) for f in features)
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
        for i, f in enumerate(features):
            ids[i, : len(f)] = torch.tensor(f.input_ids)
            mask[i, : len(f)] = 1
            pos = torch.tensor(self.choose(f), dtype=torch.long)
            labels[i, pos] = ids[i, pos]
        picked = labels != IGNORE
        roll = torch.rand(ids.shape)
        to_mask = picked & (roll < self.cfg.mask_token)
        to_random = picked & ~to_mask & (roll < self.cfg.mask_token + self.cfg.random_token)
        random_ids = torch.randint(self.vocab_size, ids.shape)
        # a random replacement is never a special token ([CLS], [PAD], ...)
        random_ids = torch.where(torch.isin(random_ids, self.special), self.mask_id, random_ids)
        ids = torch.where(to_mask, torch.full_like(ids, self.mask_id), ids)
        ids = torch.where(to_random, random_ids, ids)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def mlm_head(model: nn.Module) -> nn.Module:
    """The prediction head of a BERT-family pre-training model (BERT: cls.predictions; RoBERTa,
    XLM-R: lm_head)."""
    cls = getattr(model, "cls", None)
    if cls is not None and hasattr(cls, "predictions"):
        head: nn.Module = cls.predictions
        return head
    lm_head = getattr(model, "lm_head", None)
    if isinstance(lm_head, nn.Module):
        return lm_head
    from cotune.errors import ConfigError

    raise ConfigError(
        f"{type(model).__name__} has no masked-LM head that cotune knows (cls / lm_head)",
        where="model.backbone",
        fix="pre-train a BERT- or RoBERTa-family backbone",
    )


def masked_logits(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Vocabulary logits at the masked positions only, in row-major order."""
    base: Any = model.base_model
    hidden = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
    picked = batch["labels"] != IGNORE
    out: torch.Tensor = mlm_head(model)(hidden[picked])
    return out


def mlm_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Summed cross-entropy over the masked tokens (the loop divides by their count)."""
    labels = batch["labels"][batch["labels"] != IGNORE]
    return F.cross_entropy(masked_logits(model, batch).float(), labels, reduction="sum")


class MlmEvaluator:
    """Masked-LM loss and accuracy on held-out texts, always with the same masks (drawn once
    from a fixed seed), so every evaluation of a run, and the one before it, compares alike."""

    def __init__(
        self, features: Sequence[Feature], collate: MlmCollator, batch_size: int, seed: int = 0
    ) -> None:
        saved = torch.get_rng_state()
        torch.manual_seed(seed)  # the global generator is what the collator draws from
        try:
            self.batches = [
                collate(features[b : b + batch_size]) for b in range(0, len(features), batch_size)
            ]
        finally:
            torch.set_rng_state(saved)

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        loss, correct, count = 0.0, 0, 0
        for batch in self.batches:
            batch = to_device(batch, model)
            logits = masked_logits(model, batch)
            labels = batch["labels"][batch["labels"] != IGNORE]
            loss += float(F.cross_entropy(logits.float(), labels, reduction="sum"))
            correct += int((logits.argmax(-1) == labels).sum())
            count += int(labels.numel())
        model.train(was_training)
        mean = loss / max(count, 1)
        return {
            "mlm_loss": mean,
            "mlm_accuracy": correct / max(count, 1),
            "perplexity": math.exp(min(mean, 50.0)),
            "neg_mlm_loss": -mean,  # the "higher is better" selection metric
            "masked_tokens": float(count),
        }
