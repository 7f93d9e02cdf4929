"""Lexical scoring with BM25 (bm25s), for English, Chinese and text that mixes them.

Dense vectors miss rare exact words (an IBAN, a product code, "SWIFT"); BM25 catches them, and
the two are fused (`cotune.retrieval.fusion`). Chinese has no spaces, so a run of CJK text is cut
into single characters, overlapping character pairs, or jieba words (`cjk=`); Latin, digits and
other scripts are lower-cased word tokens. The texts are kept so that a saved scorer is rebuilt
on load (BM25 over an FAQ takes milliseconds), and there is no second file to fall out of step.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cotune.errors import ArtifactError, ConfigError, DataError
from cotune.retrieval.index import Hits, write_json_atomic

CjkMode = Literal["chars", "bigrams", "jieba"]
CJK_MODES: tuple[str, ...] = ("chars", "bigrams", "jieba")
LEXICAL_FILE = "lexical.json"

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+", re.UNICODE)
_CJK_RUN = re.compile(rf"[{_CJK}]+")
# the usual English function words: they match everywhere and only dilute BM25's scores
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "so",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "him",
        "her",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "should",
        "have",
        "has",
        "had",
        "am",
        "been",
        "being",
        "what",
        "which",
        "who",
        "whom",
        "how",
    ]
)


def tokenize(text: str, cjk: CjkMode = "bigrams") -> list[str]:
    """Word tokens for Latin (and other spaced) scripts, `cjk`-mode tokens for CJK runs."""
    text = unicodedata.normalize("NFKC", text).casefold()
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        piece = match.group()
        if not _CJK_RUN.fullmatch(piece):
            if piece not in STOPWORDS:
                tokens.append(piece)
        elif cjk == "chars":
            tokens.extend(piece)
        elif cjk == "bigrams":
            # single characters too, so that a one-character query still matches
            tokens.extend(piece)
            tokens.extend(piece[i : i + 2] for i in range(len(piece) - 1))
        else:
            tokens.extend(w for w in _jieba().lcut(piece) if w.strip())
    return tokens


def _jieba() -> Any:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter goes to stderr
    return jieba


class LexicalIndex:
    """BM25 over a fixed list of (id, text). `search(queries, k)` returns (id, score) pairs,
    best first, leaving out documents that share no token with the query (score 0)."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str], *, cjk: CjkMode = "bigrams"):
        import bm25s

        if cjk not in CJK_MODES:
            raise ConfigError(f"unknown CJK tokenisation {cjk!r}", fix=f"use one of {CJK_MODES}")
        if len(ids) != len(texts):
            raise DataError(f"{len(ids)} ids for {len(texts)} texts", fix="one id per text")
        if len(set(ids)) != len(ids):
            raise DataError("lexical index ids repeat", fix="ids must be unique")
        self.ids, self.texts, self.cjk = [str(i) for i in ids], list(texts), cjk
        self._bm25 = bm25s.BM25()
        if self.ids:
            # a document with no token at all still needs a row: give it one that never matches
            corpus = [tokenize(t, cjk) or ["\x00"] for t in self.texts]
            self._bm25.index(corpus, show_progress=False)

    def search(self, queries: Sequence[str], k: int) -> Hits:
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        if not self.ids:
            return [[] for _ in queries]
        tokens = [tokenize(q, self.cjk) or ["\x00"] for q in queries]
        rows, scores = self._bm25.retrieve(
            tokens, k=min(k, len(self.ids)), show_progress=False, n_threads=1
        )
        return [
            [(self.ids[int(r)], float(s)) for r, s in zip(row, srow, strict=True) if s > 0]
            for row, srow in zip(np.atleast_2d(rows), np.atleast_2d(scores), strict=True)
        ]

    def __len__(self) -> int:
        return len(self.ids)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        data = {"cjk": self.cjk, "ids": self.ids, "texts": self.texts}
        write_json_atomic(folder / LEXICAL_FILE, data)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> LexicalIndex:
        path = Path(folder) / LEXICAL_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data["ids"], data["texts"], cjk=data.get("cjk", "bigrams"))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ArtifactError(
                f"cannot read the lexical index {path}: {e}", where=str(path), fix="rebuild it"
            ) from None
