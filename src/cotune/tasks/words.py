"""Raw text -> words with character offsets, the way the model's tokenizer splits words.

Using the tokenizer's own word boundaries (fast tokenizers' word_ids) keeps cotune's words the
same as the Hugging Face token-classification pipeline's, so both agree on raw text.
"""

from __future__ import annotations

import unicodedata

from transformers import PreTrainedTokenizerBase


def word_spans(text: str, tokenizer: PreTrainedTokenizerBase) -> list[tuple[int, int]]:
    """[(start, end)] character offsets of each word of `text`.

    A word ends after the combining marks that follow it: a tokenizer that strips accents gives
    "Jose\u0301" the offsets of "Jose" only, yet the mark is part of the word's last letter.
    """
    if not text:
        return []
    # verbose=False: a text longer than the model is windowed, not an indexing error
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    spans: list[tuple[int, int]] = []
    last_word = None
    for w, (s, e) in zip(enc.word_ids(), enc["offset_mapping"], strict=True):
        if w is None or e <= s:
            continue
        if w == last_word:
            spans[-1] = (spans[-1][0], e)
        else:
            spans.append((s, e))
            last_word = w
    for k, (s, e) in enumerate(spans):
        stop = spans[k + 1][0] if k + 1 < len(spans) else len(text)
        while e < stop and unicodedata.category(text[e]).startswith("M"):
            e += 1
        spans[k] = (s, e)
    return spans
