"""Word-level helpers the operations share: which words may change, keeping their case, and
splitting a classification text into words (spaces, or jieba for Chinese) and back."""

from __future__ import annotations

import re

# EDA's list (Wei & Zou's code, from NLTK's English stop words): WordNet gives these words
# senses no reader means ('a' -> 'angstrom', 'in' -> 'indium'), so they are never replaced.
_STOPWORD_TEXT = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom this
    that these those am is are was were be been being have has had having do does did doing a an
    the and but if or because as until while of at by for with about against between into through
    during before after above below to from up down in out on off over under again further then
    once here there when where why how all any both each few more most other some such no nor not
    only own same so than too very s t can will just don should now"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTERS = re.compile(r"^[^\W\d_]+(?:['-][^\W\d_]+)*$")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def replaceable(word: str) -> bool:
    """A word a synonym may replace: letters only (no @user, URL, number, punctuation), not a
    stop word."""
    return bool(_LETTERS.match(word)) and word.lower() not in STOPWORDS


def match_case(replacement: str, original: str) -> str:
    """'Movie' -> 'Film', 'MOVIE' -> 'FILM': a synonym takes the case pattern of the word."""
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def split_words(text: str) -> tuple[list[str], str]:
    """Words of a text and the string that joins them back: jieba's words for Chinese (written
    without spaces), else the whitespace-separated words."""
    if has_cjk(text):
        import jieba

        jieba.setLogLevel(60)  # its 'Building prefix dict' chatter goes to stderr otherwise
        return [w for w in jieba.lcut(text) if w.strip()], ""
    return text.split(), " "


def eda_changes(n_words: int, ratio: float) -> int:
    """EDA's n = max(1, int(alpha * l)) words changed; 0 when ratio is 0."""
    return max(1, int(ratio * n_words)) if ratio > 0 else 0
