"""What a model sees of a sample: sentence embeddings, its predictions and confidence, and how
much of the text its vocabulary covers. One forward pass per batch gives all of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cotune.tasks.base import to_device


@dataclass
class Observed:
    """Per text: embedding (mean of the last hidden layer over its tokens), predicted classes,
    confidence, [UNK] rate (share of sub-tokens) and OOV rate (share of words the vocabulary
    holds only in pieces or not at all)."""

    embeddings: np.ndarray
    predicted: list[list[str]]
    confidence: np.ndarray
    unk: np.ndarray
    oov: np.ndarray
    truncated: int  # texts longer than the model's max_length (only their start is seen)

    def take(self, idx: Sequence[int]) -> Observed:
        """The features of the texts at `idx` (in that order)."""
        rows = list(idx)
        return Observed(
            self.embeddings[rows],
            [self.predicted[i] for i in rows],
            self.confidence[rows],
            self.unk[rows],
            self.oov[rows],
            0,
        )


def observe(
    model: Any,
    tokenizer: Any,
    task: str,
    labels: Sequence[str],
    texts: Sequence[str],
    *,
    max_length: int,
    multi_label: bool = False,
    batch_size: int = 32,
    progress: Any = None,
) -> Observed:
    """Run `model` over `texts` (sorted by length, so batches pad little) and collect features."""
    # whole texts, for the [UNK]/OOV rates of every word (the model reads at most max_length);
    # verbose=False: no 'longer than the maximum sequence length' warning for what is not fed
    enc = tokenizer(list(texts), truncation=False, add_special_tokens=False, verbose=False)
    lengths = [len(ids) for ids in enc["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    dim = int(model.config.hidden_size)
    emb = np.zeros((len(texts), dim), dtype=np.float32)
    conf = np.zeros(len(texts), dtype=np.float32)
    predicted: list[list[str]] = [[] for _ in texts]
    unk_id = tokenizer.unk_token_id
    unk = np.array(
        [sum(1 for t in ids if t == unk_id) / max(1, len(ids)) for ids in enc["input_ids"]],
        dtype=np.float32,
    )
    oov = np.array([_oov_rate(enc, i, unk_id) for i in range(len(texts))], dtype=np.float32)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            batch = tokenizer(
                [texts[i] for i in idx],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            word_ids = [batch.word_ids(j) for j in range(len(idx))]
            inputs = to_device(
                {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}, model
            )
            out = model(**inputs, output_hidden_states=True)
            hidden = out.hidden_states[-1].float()
            mask = inputs["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            emb[idx] = pooled.cpu().numpy()
            logits = out.logits.float().cpu()
            for j, i in enumerate(idx):
                if task == "token-classification":
                    predicted[i], conf[i] = _tokens(logits[j], word_ids[j], labels)
                else:
                    predicted[i], conf[i] = _text(logits[j], labels, multi_label)
            if progress is not None:
                progress(len(idx))
    model.train(was_training)
    truncated = sum(1 for n in lengths if n + 2 > max_length)
    return Observed(emb, predicted, conf, unk, oov, truncated)


def _text(logits: torch.Tensor, labels: Sequence[str], multi: bool) -> tuple[list[str], float]:
    if multi:
        p = torch.sigmoid(logits)
        chosen = [labels[k] for k in range(len(labels)) if p[k] >= 0.5]
        return chosen, float(torch.maximum(p, 1 - p).mean())
    p = torch.softmax(logits, -1)
    return [labels[int(p.argmax())]], float(p.max())


def _tokens(
    logits: torch.Tensor, word_ids: list[int | None], labels: Sequence[str]
) -> tuple[list[str], float]:
    """Entity types (or O) of each word's first sub-token, and their mean top probability."""
    p = torch.softmax(logits, -1)
    seen: set[int] = set()
    types, tops = [], []
    for pos, w in enumerate(word_ids):
        if w is None or w in seen:
            continue
        seen.add(w)
        tag = labels[int(p[pos].argmax())]
        types.append(tag[2:] if tag != "O" else "O")
        tops.append(float(p[pos].max()))
    return types, float(np.mean(tops)) if tops else 1.0


def _oov_rate(enc: Any, i: int, unk_id: int | None) -> float:
    """Words (as the tokenizer's pre-tokenizer splits them) the vocabulary lacks whole."""
    pieces: dict[int, list[int]] = {}
    for tok, w in zip(enc["input_ids"][i], enc.word_ids(i), strict=True):
        if w is not None:
            pieces.setdefault(w, []).append(tok)
    if not pieces:
        return 0.0
    out = sum(1 for toks in pieces.values() if len(toks) > 1 or toks[0] == unk_id)
    return out / len(pieces)
