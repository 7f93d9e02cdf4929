"""What drift compares: a reference and a current sample of texts, labelled or not.

A sample is named on the command line as a file (labelled CoNLL/JSONL/CSV, JSONL rows with only
a text, or plain text one per line), a split of the artifact's own recorded data (`train`, `dev`,
`test`), or a catalog source with a split (`rt-polarity:test`). Callers that hold texts already
(an application's store) build a `Sample` directly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cotune.data.catalog import SOURCES
from cotune.data.examples import Example, TextExample, TokenExample
from cotune.data.formats import read_text, text_lines
from cotune.data.texts import texts_of_examples
from cotune.errors import DataError

SPLITS = ("train", "dev", "test")
PLAIN_SUFFIXES = {".txt", ".text", ".md"}


@dataclass
class Sample:
    """Texts in order, with their gold classes where the data has labels.

    `kind`: "text" (classification rows), "tokens" (NER rows) or "plain" (no labels). `classes`
    holds, per text, its labels (classification) or its words' entity types with "O"
    (NER); None when unlabelled.
    """

    name: str
    texts: list[str]
    kind: str
    classes: list[list[str]] | None = None
    words: list[list[str]] | None = None  # NER rows: the words as given (kept for alignment)

    def __len__(self) -> int:
        return len(self.texts)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n": len(self.texts), "kind": self.kind}


def from_examples(name: str, examples: Sequence[Example]) -> Sample:
    """A sample of labelled examples (either kind, not mixed)."""
    if not examples:
        raise DataError("the sample holds no examples", where=name, fix="give a non-empty set")
    if all(isinstance(ex, TokenExample) for ex in examples):
        # a sentence of blank tokens has no text to embed (texts_of_examples drops it too)
        rows = [
            ex for ex in examples if isinstance(ex, TokenExample) and "".join(ex.tokens).strip()
        ]
        classes = [[t[2:] if t != "O" else "O" for t in ex.tags] for ex in rows]
        return Sample(name, texts_of_examples(rows), "tokens", classes, [ex.tokens for ex in rows])
    if all(isinstance(ex, TextExample) for ex in examples):
        texts = [ex.text for ex in examples if isinstance(ex, TextExample)]
        labels = [list(ex.labels) for ex in examples if isinstance(ex, TextExample)]
        return Sample(name, texts, "text", labels)
    raise DataError("the sample mixes token rows and text rows", where=name, fix="one kind a set")


def from_texts(name: str, texts: Sequence[str]) -> Sample:
    """An unlabelled sample (what arrives in production: texts only)."""
    kept = [str(t) for t in texts if str(t).strip()]
    return Sample(name, kept, "plain")


def load_sample(ref: str, *, own_data: dict[str, Any] | None = None) -> Sample:
    """`ref` as a file, a split of `own_data` (the artifact's recorded `data` config), or
    `SOURCE:SPLIT` / `SOURCE` of the catalog."""
    path = Path(ref)
    if path.is_file():
        return _read_file(path)
    if ref in SPLITS:
        if not own_data:
            raise DataError(
                f"{ref!r} names a split of the model's own data, but the artifact records none",
                where=ref,
                fix="give a file or SOURCE:SPLIT instead",
            )
        return _split(ref, own_data, ref)
    source, _, split = ref.partition(":")
    if source in SOURCES:
        if split and split not in SPLITS:
            raise DataError(
                f"unknown split {split!r}", where=ref, fix=f"use one of {', '.join(SPLITS)}"
            )
        data = {"source": source}
        if own_data and own_data.get("source") == source:  # the split the model was trained on
            data = own_data
        if not split:
            from cotune.data.load import load_corpus

            return from_examples(ref, load_corpus(source).examples)
        return _split(split, data, ref)
    raise DataError(
        f"{ref!r} is neither a file, a split (train/dev/test), nor SOURCE[:SPLIT] of the catalog",
        where=ref,
        fix=f"check the path, or use one of {sorted(SOURCES)} (`cotune data list`)",
    )


def _split(split: str, data: dict[str, Any], name: str) -> Sample:
    from cotune.config.schema import DataConfig
    from cotune.data import load_splits

    cfg = DataConfig(**{k: v for k, v in data.items() if k != "limit"})
    splits, _ = load_splits(cfg)
    return from_examples(name, getattr(splits, split))


def _read_file(path: Path) -> Sample:
    if path.suffix.lower() in PLAIN_SUFFIXES:
        return from_texts(str(path), text_lines(read_text(path)))
    from cotune.config.schema import DataConfig
    from cotune.data.load import read_labelled

    try:
        return from_examples(str(path), read_labelled(path, DataConfig(train=path)))
    except DataError as e:
        # JSONL rows with a text and no label: what arrives in production
        if path.suffix.lower() in {".jsonl", ".json"} and "needs" in e.what and "label" in e.what:
            return from_texts(str(path), _jsonl_texts(path))
        raise


def _jsonl_texts(path: Path) -> list[str]:
    texts = []
    for lineno, line in enumerate(text_lines(read_text(path)), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        text = row.get("text") if isinstance(row, dict) else None
        if not isinstance(text, str):
            raise DataError(
                'each row needs a string "text"', where=f"{path}:{lineno}", fix='{"text": "..."}'
            )
        texts.append(text)
    return texts
