"""Synonym replacement for NER (Dai & Adel 2020, SR): each replaceable token, with probability
`ratio`, becomes one of its synonyms; a synonym of several words takes the token's tag on its
first word and the entity's I- tag on the others (O stays O), so entities keep type and number."""

from __future__ import annotations

import random

from cotune.augment.registry import AugmentContext, operation
from cotune.augment.words import has_cjk, match_case, replaceable
from cotune.data.examples import TokenExample
from cotune.data.tagging import split_tag


def words_of_replacement(replacement: list[str], original: str) -> list[str]:
    """The tokens a replacement adds: character tokens for a character-level (Chinese) corpus."""
    if len(original) == 1 and has_cjk(original):
        return [ch for word in replacement for ch in word]
    return [match_case(replacement[0], original), *replacement[1:]]


@operation(
    "tokens",
    "synonym",
    keeps_entities=True,
    summary="a token becomes a synonym (tags follow; entities stay whole)",
)
def synonym_tokens(
    ex: TokenExample, ctx: AugmentContext, rng: random.Random
) -> TokenExample | None:
    tokens: list[str] = []
    tags: list[str] = []
    changed = False
    for token, tag in zip(ex.tokens, ex.tags, strict=True):
        if rng.random() < ctx.ratio and (replaceable(token) or has_cjk(token)):
            options = ctx.synonyms.lookup(token)
            if options:
                new = words_of_replacement(rng.choice(options), token)
                prefix, typ = split_tag(tag)
                follow = "O" if prefix == "O" else f"I-{typ}"
                tokens += new
                tags += [tag] + [follow] * (len(new) - 1)
                changed = True
                continue
        tokens.append(token)
        tags.append(tag)
    return TokenExample(tokens, tags, ex.origin) if changed else None
