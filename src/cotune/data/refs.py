"""Labelled sets named on a command line: a file, a split of a model's recorded data, or
SOURCE[:SPLIT] of the catalog. Shared by `cotune drift` and `cotune registry challenge`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotune.data.catalog import SOURCES
from cotune.data.examples import Example
from cotune.errors import DataError

SPLITS = ("train", "dev", "test")


def load_examples(ref: str, *, own_data: dict[str, Any] | None = None) -> list[Example]:
    """The examples `ref` names. `own_data`: the `data` section of a model's recorded config,
    which `train`/`dev`/`test` (and its own source with a split) are rebuilt from, under the
    seeded split it was trained with."""
    path = Path(ref)
    if path.is_file():
        from cotune.config.schema import DataConfig
        from cotune.data.load import read_labelled

        return read_labelled(path, DataConfig(train=path))
    if ref in SPLITS:
        if not own_data:
            raise DataError(
                f"{ref!r} names a split of the model's own data, but the artifact records none",
                where=ref,
                fix="give a file or SOURCE:SPLIT instead",
            )
        return _split(ref, own_data)
    source, _, split = ref.partition(":")
    if source in SOURCES:
        if split and split not in SPLITS:
            raise DataError(
                f"unknown split {split!r}", where=ref, fix=f"use one of {', '.join(SPLITS)}"
            )
        if not split:
            from cotune.data.load import load_corpus

            return list(load_corpus(source).examples)
        same = own_data is not None and own_data.get("source") == source
        return _split(split, own_data if same and own_data else {"source": source})
    raise DataError(
        f"{ref!r} is neither a file, a split (train/dev/test), nor SOURCE[:SPLIT] of the catalog",
        where=ref,
        fix=f"check the path, or use one of {sorted(SOURCES)} (`cotune data list`)",
    )


def _split(split: str, data: dict[str, Any]) -> list[Example]:
    from cotune.config.schema import DataConfig
    from cotune.data import load_splits

    cfg = DataConfig(**{k: v for k, v in data.items() if k != "limit"})
    splits, _ = load_splits(cfg)
    return list(getattr(splits, split))
