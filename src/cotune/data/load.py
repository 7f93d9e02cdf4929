"""From a `DataConfig` to validated train/dev/test splits with their provenance."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from cotune.config.schema import DataConfig
from cotune.data.cache import sha256_file
from cotune.data.catalog import SOURCES, get_source
from cotune.data.examples import (
    Corpus,
    Example,
    Kind,
    Provenance,
    Splits,
    TextExample,
    TokenExample,
)
from cotune.data.formats import read_conll, read_csv, read_jsonl
from cotune.data.splits import seeded_split
from cotune.data.tagging import detect_scheme, to_iob2
from cotune.errors import DataError


def read_file(path: Path, cfg: DataConfig) -> Corpus:
    """Read one labelled file in any supported format."""
    if not path.exists():
        raise DataError("no such file", where=str(path), fix="check the path in data.*")
    fmt: str = cfg.format
    if fmt == "auto":
        fmt = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}.get(path.suffix.lower(), "conll")
    rows: list[TokenExample] | list[TextExample]
    if fmt == "conll":
        rows = read_conll(path)
    elif fmt == "jsonl":
        rows = read_jsonl(path, text_field=cfg.text_column)
    else:
        rows = read_csv(
            path,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            label_separator=cfg.label_separator,
        )
    kind: Kind = "tokens" if isinstance(rows[0], TokenExample) else "text"
    scheme = None
    if kind == "tokens":
        scheme = detect_scheme([r.tags for r in rows if isinstance(r, TokenExample)])
    multi = any(isinstance(r, TextExample) and len(r.labels) > 1 for r in rows)
    prov = Provenance(name=path.name, files={str(path): sha256_file(path)})
    return Corpus(kind, list(rows), prov, tag_scheme=scheme, multi_label=multi)


def load_corpus(name_or_path: str, cfg: DataConfig | None = None) -> Corpus:
    """A catalog source by name, or a file."""
    cfg = cfg or DataConfig(source=name_or_path)
    if name_or_path in SOURCES:
        return get_source(name_or_path).load()
    path = Path(name_or_path)
    if path.exists():
        return read_file(path, cfg)
    raise DataError(
        f"{name_or_path!r} is neither a catalog source nor an existing file",
        fix=f"use one of {sorted(SOURCES)} (`cotune data list`) or a file path",
    )


def normalise_tags(examples: list[Example], scheme: str, repair: bool) -> list[Example]:
    out: list[Example] = []
    for ex in examples:
        if isinstance(ex, TokenExample):
            if len(ex.tokens) != len(ex.tags):
                raise DataError(f"{len(ex.tokens)} tokens but {len(ex.tags)} tags", where=ex.origin)
            ex = TokenExample(
                ex.tokens, to_iob2(ex.tags, scheme, repair=repair, where=ex.origin), ex.origin
            )
        out.append(ex)
    return out


def read_labelled(path: Path, cfg: DataConfig) -> list[Example]:
    """One labelled file, tags normalised to IOB2 (for evaluation on a file)."""
    corpus = read_file(path, cfg)
    scheme = cfg.tag_scheme if cfg.tag_scheme != "auto" else (corpus.tag_scheme or "IOB2")
    return normalise_tags(corpus.examples, scheme, cfg.repair_tags)


def _label_set(examples: list[Example]) -> Counter[str]:
    """Classes the model will know: labels, or entity types (any B-/I- of a seen type)."""
    c: Counter[str] = Counter()
    for ex in examples:
        c.update(_classes(ex))
    return c


def _classes(ex: Example) -> list[str]:
    if isinstance(ex, TokenExample):
        return [t[2:] if t != "O" else "O" for t in ex.tags]
    return ex.labels


def check_labels_known(train: list[Example], other: list[Example], split: str) -> None:
    """Every dev/test label must be one the model can output, i.e. seen in train."""
    known = _label_set(train)
    for ex in other:
        for lab in _classes(ex):
            if lab not in known:
                kind = "entity type" if isinstance(ex, TokenExample) else "label"
                raise DataError(
                    f"{kind} {lab!r} in {split} never occurs in train, so the model cannot "
                    "output it",
                    where=ex.origin,
                    fix="add training examples with it, fix the label, or re-split "
                    "(data.split.seed)",
                )


def load_splits(cfg: DataConfig) -> tuple[Splits, Provenance]:
    """Read, normalise to IOB2, split (or take the given files), validate labels."""
    if cfg.train is not None:
        parts = {"train": read_file(cfg.train, cfg)}
        for name in ("dev", "test"):
            path = getattr(cfg, name)
            if path is not None:
                parts[name] = read_file(path, cfg)
        corpus = parts["train"]
        files: dict[str, str] = {}
        for c in parts.values():
            files.update(c.provenance.files)
        provenance = Provenance(name=cfg.train.stem, files=files)
    else:
        assert cfg.source is not None
        corpus = load_corpus(cfg.source, cfg)
        provenance = corpus.provenance
        parts = {}

    scheme = cfg.tag_scheme if cfg.tag_scheme != "auto" else (corpus.tag_scheme or "IOB2")
    if corpus.kind == "tokens" and cfg.tag_scheme == "auto" and parts:
        scheme = detect_scheme(
            [ex.tags for c in parts.values() for ex in c.examples if isinstance(ex, TokenExample)]
        )
    examples = normalise_tags(corpus.examples, scheme, cfg.repair_tags)
    if "dev" in parts or "test" in parts:
        train = examples
        dev = (
            normalise_tags(parts["dev"].examples, scheme, cfg.repair_tags) if "dev" in parts else []
        )
        test = (
            normalise_tags(parts["test"].examples, scheme, cfg.repair_tags)
            if "test" in parts
            else []
        )
        record: dict[str, Any] = {
            "method": "given-files",
            "files": {k: str(getattr(cfg, k)) for k in parts},
        }
        if not dev:
            train, dev, _, rec = seeded_split(train, seed=cfg.split.seed, dev=cfg.split.dev, test=0)
            record["dev_from_train"] = rec
    else:
        strata = None
        if corpus.kind == "text" and cfg.split.stratify:
            strata = ["|".join(ex.labels) for ex in examples if isinstance(ex, TextExample)]
        train, dev, test, split_record = seeded_split(
            examples, seed=cfg.split.seed, dev=cfg.split.dev, test=cfg.split.test, strata=strata
        )
        record = dict(split_record)
    record["tag_scheme_read"] = scheme if corpus.kind == "tokens" else None
    if not train:
        raise DataError("the training split is empty", fix="use more data or smaller dev/test")
    for name, part in (("dev", dev), ("test", test)):
        check_labels_known(train, part, name)
    labels = label_inventory(train)
    if cfg.limit:
        train, dev, test = train[: cfg.limit], dev[: cfg.limit], test[: cfg.limit]
        record["limit"] = cfg.limit
    multi = corpus.multi_label or any(
        isinstance(ex, TextExample) and len(ex.labels) > 1 for ex in train
    )
    splits = Splits(train, dev, test, record, kind=corpus.kind, multi_label=multi, labels=labels)
    return splits, provenance


def label_inventory(train: list[Example]) -> list[str]:
    """What the model will output, from the training split. NER: O plus B-/I- of every type
    seen (a type's I- tag may be absent from train when all its entities are one word, yet the
    model must be able to say it)."""
    seen: set[str] = set()
    for ex in train:
        if isinstance(ex, TokenExample):
            seen.update(p + t[2:] for t in ex.tags if t != "O" for p in ("B-", "I-"))
            seen.add("O")
        else:
            seen.update(ex.labels)
    return sorted(seen)
