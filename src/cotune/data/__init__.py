"""Data: readers for the standard formats, a catalog of named sources, splits, validation."""

from cotune.data.examples import Corpus, Provenance, Splits, TextExample, TokenExample
from cotune.data.load import load_corpus, load_splits

__all__ = [
    "Corpus",
    "Provenance",
    "Splits",
    "TextExample",
    "TokenExample",
    "load_corpus",
    "load_splits",
]
