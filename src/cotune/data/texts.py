"""Unlabelled text for vocabulary extension and pre-training: from catalog sources (their tags or
labels dropped), labelled files, plain-text files (one text a line) or folders of them.

Labelled sources give, by default, only the texts that the seeded split puts in **train**: a
backbone adapted on a task's dev/test text would be scored on text it has already read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cotune.config.schema import DataConfig, SplitConfig
from cotune.data.cache import sha256_file
from cotune.data.catalog import SOURCES
from cotune.data.examples import Example, TokenExample
from cotune.data.formats import read_text
from cotune.errors import DataError

PLAIN_SUFFIXES = {".txt", ".text", ".md"}
Use = Literal["train-split", "all"]


@dataclass
class Texts:
    """Texts in a fixed order with one provenance record per source."""

    texts: list[str]
    sources: list[dict[str, Any]] = field(default_factory=list)

    def characters(self) -> int:
        return sum(len(t) for t in self.texts)


def join_tokens(tokens: Sequence[str], char_level: bool) -> str:
    """Character-level corpora (Chinese NER: one character a token) read as the running text;
    word-level ones with spaces."""
    return ("" if char_level else " ").join(tokens)


def texts_of_examples(examples: Sequence[Example]) -> list[str]:
    """The text of each labelled example, labels dropped."""
    token_rows = [ex for ex in examples if isinstance(ex, TokenExample)]
    n_tokens = sum(len(ex.tokens) for ex in token_rows)
    # a token corpus whose tokens are almost all single characters is character-level
    char_level = bool(token_rows) and sum(
        1 for ex in token_rows for t in ex.tokens if len(t) == 1
    ) >= 0.9 * max(n_tokens, 1)
    out = []
    for ex in examples:
        text = join_tokens(ex.tokens, char_level) if isinstance(ex, TokenExample) else ex.text
        if text.strip():
            out.append(text)
    return out


def _plain_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in PLAIN_SUFFIXES)
        if not files:
            raise DataError(
                f"no text files ({', '.join(sorted(PLAIN_SUFFIXES))}) under this folder",
                where=str(path),
                fix="put one text a line into .txt files",
            )
        return files
    return [path]


def _read_plain(path: Path) -> tuple[list[str], dict[str, Any]]:
    files = _plain_files(path)
    texts = [line.strip() for f in files for line in read_text(f).splitlines() if line.strip()]
    record = {
        "name": path.name,
        "files": {str(f): sha256_file(f) for f in files},
        "description": "plain text, one text a line",
        "use": "all",
    }
    return texts, record


def _read_labelled(name: str, use: Use, split: SplitConfig) -> tuple[list[str], dict[str, Any]]:
    from cotune.data.load import load_corpus, load_splits

    if use == "train-split":
        splits, prov = load_splits(DataConfig(source=name, split=split))
        examples = splits.train
        record: dict[str, Any] = {**prov.to_dict(), "use": "train-split", "split": splits.record}
    else:
        corpus = load_corpus(name)
        examples, record = corpus.examples, {**corpus.provenance.to_dict(), "use": "all"}
    return texts_of_examples(examples), record


def load_texts(
    sources: Sequence[str],
    *,
    use: Use = "train-split",
    split: SplitConfig | None = None,
    limit: int | None = None,
) -> Texts:
    """Texts of every source in order (each cut to `limit`), with provenance."""
    split = split or SplitConfig()
    out = Texts([])
    for name in sources:
        path = Path(name).expanduser()
        if name in SOURCES or (path.is_file() and path.suffix not in PLAIN_SUFFIXES):
            texts, record = _read_labelled(name, use, split)
        elif path.exists():
            texts, record = _read_plain(path)
        else:
            raise DataError(
                f"{name!r} is neither a catalog source nor an existing file or folder",
                fix=f"use one of {sorted(SOURCES)} (`cotune data list`), a .txt file (one text "
                "a line) or a folder of them",
            )
        if limit:
            texts = texts[:limit]
        if not texts:
            raise DataError("no text in this source", where=name, fix="check the source")
        out.texts += texts
        out.sources.append({**record, "texts": len(texts), "characters": sum(map(len, texts))})
    return out
