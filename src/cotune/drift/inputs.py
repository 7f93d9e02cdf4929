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

from cotune.data.examples import Example, TextExample, TokenExample
from cotune.data.formats import read_text, text_lines
from cotune.data.refs import load_examples
from cotune.data.texts import texts_of_examples
from cotune.errors import DataError

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
    """`ref` as a file (plain text and unlabelled JSONL too), a split of `own_data` (the
    artifact's recorded `data` config), or `SOURCE:SPLIT` / `SOURCE` of the catalog."""
    path = Path(ref)
    if path.is_file() and path.suffix.lower() in PLAIN_SUFFIXES:
        return from_texts(str(path), text_lines(read_text(path)))
    try:
        return from_examples(ref, load_examples(ref, own_data=own_data))
    except DataError as e:
        # JSONL rows with a text and no label: what arrives in production
        unlabelled = "needs" in e.what and "label" in e.what
        if path.is_file() and path.suffix.lower() in {".jsonl", ".json"} and unlabelled:
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
