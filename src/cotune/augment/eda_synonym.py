"""EDA synonym replacement (Wei & Zou 2019, SR): n = max(1, int(ratio * words)) of the text's
words that have synonyms (stop words never) are replaced by one of them."""

from __future__ import annotations

import random

from cotune.augment.registry import AugmentContext, operation
from cotune.augment.words import eda_changes, match_case, replaceable, split_words
from cotune.data.examples import TextExample


def replacement_text(option: list[str], original: str, joiner: str) -> str:
    return (
        joiner.join([match_case(option[0], original), *option[1:]]) if joiner else "".join(option)
    )


@operation("text", "synonym", keeps_entities=False, summary="n words become synonyms (EDA SR)")
def eda_synonym(ex: TextExample, ctx: AugmentContext, rng: random.Random) -> TextExample | None:
    words, joiner = split_words(ex.text)
    order = [i for i, w in enumerate(words) if replaceable(w)]
    rng.shuffle(order)
    left = eda_changes(len(words), ctx.ratio)
    for i in order:
        if left == 0:
            break
        options = ctx.synonyms.lookup(words[i])
        if options:
            words[i] = replacement_text(rng.choice(options), words[i], joiner)
            left -= 1
    text = joiner.join(words)
    return TextExample(text, list(ex.labels), ex.origin) if text != ex.text else None
