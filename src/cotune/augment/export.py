"""`cotune data augment`: the augmented training data as a file a person can read, and that
cotune reads back as `data.train` (CoNLL or JSON Lines).

A catalog source is split as a run would split it and only its training split is augmented;
a file is taken whole as training data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cotune.augment.apply import augment_split
from cotune.config.augment import AugmentConfig
from cotune.config.schema import DataConfig, SplitConfig
from cotune.data.catalog import SOURCES
from cotune.data.examples import Example, TokenExample
from cotune.errors import ConfigError
from cotune.files import atomic_write_text

AUGMENT_MARK = "[augment "  # what augment_split appends to an augmented sentence's origin


def training_examples(name_or_path: str, split_seed: int) -> tuple[list[Example], str]:
    """The examples to augment and a line saying what they are."""
    from cotune.data.load import load_splits, read_labelled

    if name_or_path in SOURCES:
        splits, _ = load_splits(DataConfig(source=name_or_path, split=SplitConfig(seed=split_seed)))
        return splits.train, f"the training split of {name_or_path} (split seed {split_seed})"
    path = Path(name_or_path)
    return read_labelled(path, DataConfig(source=str(path))), f"all of {path}"


def render(examples: list[Example], fmt: str) -> str:
    """CoNLL (`token<TAB>tag`, a blank line between sentences) or JSON Lines; JSON rows of
    augmented sentences say which operation made them (`augmented`), and cotune ignores it."""
    if fmt == "conll":
        if not all(isinstance(ex, TokenExample) for ex in examples):
            raise ConfigError(
                "CoNLL holds token data; this data is text",
                where="--output",
                fix="write to a .jsonl file",
            )
        return "".join(
            "".join(f"{t}\t{g}\n" for t, g in zip(ex.tokens, ex.tags, strict=True)) + "\n"
            for ex in examples
            if isinstance(ex, TokenExample)
        )
    rows: list[str] = []
    for ex in examples:
        row: dict[str, Any] = (
            {"tokens": ex.tokens, "tags": ex.tags}
            if isinstance(ex, TokenExample)
            else {"text": ex.text, "label": ex.labels[0] if len(ex.labels) == 1 else ex.labels}
        )
        if AUGMENT_MARK in ex.origin:
            row["augmented"] = ex.origin[ex.origin.index(AUGMENT_MARK) + len(AUGMENT_MARK) :][:-1]
        rows.append(json.dumps(row, ensure_ascii=False) + "\n")
    return "".join(rows)


def output_format(path: Path) -> str:
    return "jsonl" if path.suffix.lower() in {".jsonl", ".json"} else "conll"


def augment_to_file(
    name_or_path: str,
    cfg: AugmentConfig,
    output: Path,
    *,
    split_seed: int = 13,
    only_new: bool = False,
) -> dict[str, Any]:
    """Augment, write `output` (temp file, then rename: never half a file), return the record."""
    examples, what = training_examples(name_or_path, split_seed)
    out, record = augment_split(examples, cfg)
    if only_new:
        out = out[len(examples) :]
    atomic_write_text(output, render(out, output_format(output)))
    return {"input": what, "output": str(output), "written": len(out), **record}
