"""Shuffle within segments (Dai & Adel 2020, SiS): the sentence is cut into segments (each entity,
each run of O tokens) and each segment of two or more tokens, with probability `ratio`, has its
tokens shuffled. Tokens never cross a segment boundary and tags stay in place."""

from __future__ import annotations

import random

from cotune.augment.registry import AugmentContext, operation
from cotune.augment.spans import segments
from cotune.data.examples import TokenExample


@operation(
    "tokens",
    "shuffle",
    keeps_entities=True,
    summary="tokens are shuffled within each entity and each run of O tokens",
)
def shuffle(ex: TokenExample, ctx: AugmentContext, rng: random.Random) -> TokenExample | None:
    tokens = list(ex.tokens)
    for start, end in segments(ex.tags):
        if end - start > 1 and rng.random() < ctx.ratio:
            part = tokens[start:end]
            rng.shuffle(part)
            tokens[start:end] = part
    return TokenExample(tokens, list(ex.tags), ex.origin) if tokens != ex.tokens else None
