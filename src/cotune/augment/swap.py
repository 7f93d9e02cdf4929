"""EDA random swap (Wei & Zou 2019, RS): n times, two random words of the text trade places."""

from __future__ import annotations

import random

from cotune.augment.registry import AugmentContext, operation
from cotune.augment.words import eda_changes, split_words
from cotune.data.examples import TextExample


@operation("text", "swap", keeps_entities=False, summary="n pairs of words trade places (EDA RS)")
def swap(ex: TextExample, ctx: AugmentContext, rng: random.Random) -> TextExample | None:
    words, joiner = split_words(ex.text)
    if len(words) < 2:
        return None
    for _ in range(eda_changes(len(words), ctx.ratio)):
        i, j = rng.sample(range(len(words)), 2)
        words[i], words[j] = words[j], words[i]
    text = joiner.join(words)
    return TextExample(text, list(ex.labels), ex.origin) if text != ex.text else None
