"""EDA random deletion (Wei & Zou 2019, RD): each word is deleted with probability `ratio`; one
random word is kept when all would go."""

from __future__ import annotations

import random

from cotune.augment.registry import AugmentContext, operation
from cotune.augment.words import split_words
from cotune.data.examples import TextExample


@operation("text", "delete", keeps_entities=False, summary="each word goes with p = ratio (EDA RD)")
def delete(ex: TextExample, ctx: AugmentContext, rng: random.Random) -> TextExample | None:
    words, joiner = split_words(ex.text)
    if len(words) < 2:
        return None
    kept = [w for w in words if rng.random() >= ctx.ratio]
    if not kept:
        kept = [rng.choice(words)]
    if len(kept) == len(words):
        return None
    return TextExample(joiner.join(kept), list(ex.labels), ex.origin)
