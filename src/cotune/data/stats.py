"""Corpus statistics shown by `cotune data show` and written into cards."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from cotune.data.examples import Example, TextExample, TokenExample


def words_of(ex: Example) -> int:
    """Words an example trains on: its tokens for NER, whitespace words of the text otherwise."""
    return len(ex.tokens) if isinstance(ex, TokenExample) else len(ex.text.split())


def unk_rate(examples: Sequence[Example], tokenizer: Any, limit: int = 5000) -> float:
    """Share of sub-tokens that are the tokenizer's unknown token (on up to `limit` examples)."""
    sample = list(examples[:limit])
    if not sample:
        return 0.0
    if isinstance(sample[0], TokenExample):
        enc = tokenizer(
            [ex.tokens for ex in sample if isinstance(ex, TokenExample)],
            is_split_into_words=True,
            add_special_tokens=False,
        )
    else:
        enc = tokenizer(
            [ex.text for ex in sample if isinstance(ex, TextExample)], add_special_tokens=False
        )
    ids = [i for row in enc["input_ids"] for i in row]
    return sum(1 for i in ids if i == tokenizer.unk_token_id) / max(1, len(ids))


def describe(examples: Sequence[Example]) -> dict[str, Any]:
    """Size, label distribution and length distribution."""
    labels: Counter[str] = Counter()
    lengths = sorted(words_of(ex) for ex in examples)
    for ex in examples:
        if isinstance(ex, TokenExample):
            labels.update(t[2:] for t in ex.tags if t.startswith("B-"))
        else:
            labels.update(ex.labels)

    def pct(q: float) -> int:
        return lengths[min(len(lengths) - 1, int(q * len(lengths)))] if lengths else 0

    return {
        "examples": len(examples),
        "words": sum(lengths),
        "labels": dict(sorted(labels.items(), key=lambda kv: -kv[1])),
        "length_words": {"min": pct(0), "p50": pct(0.5), "p95": pct(0.95), "max": pct(1.0)},
    }
