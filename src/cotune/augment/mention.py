"""Mention replacement (Dai & Adel 2020, MR): each entity, with probability `ratio`, becomes
another mention of the same type, drawn from the training split's mentions and the user's
gazetteer (`data.augment.gazetteer`). It gets fresh B-/I- tags, so types and number are kept."""

from __future__ import annotations

import random

from cotune.augment.registry import AugmentContext, operation
from cotune.augment.spans import entity_spans, mention_tags
from cotune.data.examples import TokenExample


@operation(
    "tokens",
    "mention",
    keeps_entities=True,
    summary="an entity becomes another mention of its type (training split + gazetteer)",
)
def mention(ex: TokenExample, ctx: AugmentContext, rng: random.Random) -> TokenExample | None:
    tokens: list[str] = []
    tags: list[str] = []
    changed = False
    at = 0
    for start, end, typ in entity_spans(ex.tags):
        tokens += ex.tokens[at:start]
        tags += ex.tags[at:start]
        words = ex.tokens[start:end]
        pool = ctx.mentions_by_type.get(typ)
        if pool and rng.random() < ctx.ratio:
            words = list(rng.choice(pool))
            changed |= words != ex.tokens[start:end]
        tokens += words
        tags += mention_tags(typ, len(words))
        at = end
    tokens += ex.tokens[at:]
    tags += ex.tags[at:]
    return TokenExample(tokens, tags, ex.origin) if changed else None
