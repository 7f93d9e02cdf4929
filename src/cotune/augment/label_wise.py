"""Label-wise token replacement (Dai & Adel 2020, LwTR): each token, with probability `ratio`,
becomes a token drawn from the training tokens that carry the same tag. Tags never change, so
the entities keep their types, number and places."""

from __future__ import annotations

import random

from cotune.augment.registry import AugmentContext, operation
from cotune.data.examples import TokenExample


@operation(
    "tokens",
    "label_wise",
    keeps_entities=True,
    summary="a token becomes another training token with the same tag",
)
def label_wise(ex: TokenExample, ctx: AugmentContext, rng: random.Random) -> TokenExample | None:
    tokens = list(ex.tokens)
    changed = False
    for i, tag in enumerate(ex.tags):
        if rng.random() < ctx.ratio:
            pool = ctx.tokens_by_tag.get(tag)
            if pool:
                new = rng.choice(pool)
                changed |= new != tokens[i]
                tokens[i] = new
    return TokenExample(tokens, list(ex.tags), ex.origin) if changed else None
