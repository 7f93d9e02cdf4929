"""EDA random insertion (Wei & Zou 2019, RI): n times, a synonym of a random word of the text is
inserted at a random place (up to 10 draws to find a word that has synonyms, as in EDA)."""

from __future__ import annotations

import random

from cotune.augment.eda_synonym import replacement_text
from cotune.augment.registry import AugmentContext, operation
from cotune.augment.words import eda_changes, replaceable, split_words
from cotune.data.examples import TextExample


@operation(
    "text", "insert", keeps_entities=False, summary="synonyms of n words are inserted (EDA RI)"
)
def insert(ex: TextExample, ctx: AugmentContext, rng: random.Random) -> TextExample | None:
    words, joiner = split_words(ex.text)
    candidates = [w for w in words if replaceable(w)]
    changed = False
    for _ in range(eda_changes(len(words), ctx.ratio)):
        for _attempt in range(10):
            if not candidates:
                break
            word = rng.choice(candidates)
            options = ctx.synonyms.lookup(word)
            if options:
                new = replacement_text(rng.choice(options), word.lower(), joiner)
                words.insert(rng.randint(0, len(words)), new)
                changed = True
                break
    return TextExample(joiner.join(words), list(ex.labels), ex.origin) if changed else None
