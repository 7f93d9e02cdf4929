"""Augment a training split as `data.augment` says, and record what was done.

Everything the operations draw from (tokens by tag, mentions by type, the synonym source's
choice) comes from the training split and the user's gazetteer only, never from dev or test.
Each augmented sentence has its own random stream, seeded by (seed, operation, sentence, copy),
so the result does not depend on the order operations run in or on the other sentences.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from cotune.augment.gazetteer import read_gazetteer
from cotune.augment.registry import OPERATIONS, AugmentContext, Operation
from cotune.augment.spans import entity_spans
from cotune.augment.synonyms import NoSynonyms, SynonymSource, synonym_source
from cotune.augment.words import has_cjk, split_words
from cotune.config.augment import AugmentConfig
from cotune.data.cache import sha256_file
from cotune.data.examples import Example, Kind, TextExample, TokenExample
from cotune.errors import ConfigError, DataError

DEFAULT_RATIO: dict[Kind, float] = {"tokens": 0.3, "text": 0.1}
USES_SYNONYMS = {"synonym", "insert"}


def operations_for(kind: Kind, names: Sequence[str] | None) -> list[Operation]:
    """The registered operations `names` picks for this kind of data (default: all of them)."""
    ops = OPERATIONS[kind]
    if names is None:
        return list(ops.values())
    wrong = [n for n in names if n not in ops]
    if wrong:
        task = "NER (token)" if kind == "tokens" else "classification (text)"
        raise ConfigError(
            f"operation(s) {wrong} do not apply to {task} data",
            where="data.augment.operations",
            fix=f"use some of {list(ops)} for this data (docs/augment.md)",
        )
    return [ops[n] for n in names]


def _length(ex: Example) -> int:
    return len(ex.tokens) if isinstance(ex, TokenExample) else len(split_words(ex.text)[0])


def build_context(
    train: Sequence[Example], cfg: AugmentConfig, kind: Kind, ops: Sequence[Operation]
) -> tuple[AugmentContext, dict[str, Any]]:
    """The pools the operations draw from, and a record of where they came from."""
    sample = [
        ex.tokens[0] if isinstance(ex, TokenExample) and ex.tokens else getattr(ex, "text", "")
        for ex in train[:200]
    ]
    cjk = sum(has_cjk(s) for s in sample) * 2 > len(sample)
    synonyms: SynonymSource = NoSynonyms()
    if USES_SYNONYMS & {op.name for op in ops}:
        synonyms = synonym_source(
            cfg.synonyms, backbone=cfg.embedding_model, k=cfg.neighbours, cjk=cjk
        )
    ratio = DEFAULT_RATIO[kind] if cfg.ratio is None else cfg.ratio
    ctx = AugmentContext(ratio=ratio, synonyms=synonyms)
    record: dict[str, Any] = {"ratio": ratio, "synonyms": synonyms.name}
    if kind == "tokens":
        by_tag: dict[str, dict[str, None]] = {}
        by_type: dict[str, dict[tuple[str, ...], None]] = {}
        for ex in train:
            assert isinstance(ex, TokenExample)
            for token, tag in zip(ex.tokens, ex.tags, strict=True):
                by_tag.setdefault(tag, {})[token] = None
            for start, end, typ in entity_spans(ex.tags):
                by_type.setdefault(typ, {})[tuple(ex.tokens[start:end])] = None
        # each distinct token/mention once, in first-seen order: frequent ones are not favoured
        # (Dai & Adel draw from the label-wise distribution; distinct entries add more variety to
        # a few hundred sentences, where the distribution is mostly the same few words)
        ctx.tokens_by_tag = {tag: list(tokens) for tag, tokens in by_tag.items()}
        ctx.mentions_by_type = {t: [list(m) for m in ms] for t, ms in by_type.items()}
        if cfg.gazetteer is not None:
            char_tokens = cjk and all(len(t) == 1 for ex in train[:50] for t in ex.tokens)  # type: ignore[union-attr]
            extra = read_gazetteer(cfg.gazetteer, set(by_type), char_tokens=char_tokens)
            for typ, mentions in extra.items():
                ctx.mentions_by_type[typ] += [
                    m for m in mentions if m not in ctx.mentions_by_type[typ]
                ]
            record["gazetteer"] = {
                "file": str(cfg.gazetteer),
                "sha256": sha256_file(cfg.gazetteer),
                "mentions": {t: len(m) for t, m in extra.items()},
            }
    elif cfg.gazetteer is not None:
        raise ConfigError(
            "a gazetteer feeds mention replacement, which is for NER data; this data is text",
            where="data.augment.gazetteer",
            fix="remove data.augment.gazetteer",
        )
    return ctx, record


def augment_split(
    train: list[Example], cfg: AugmentConfig, *, progress: bool | None = None
) -> tuple[list[Example], dict[str, Any]]:
    """The training split followed by its augmented sentences, and the record of what was done
    (stored in the run's split record and shown in the model card)."""
    if not train:
        raise DataError("the training split is empty: nothing to augment")
    kind: Kind = "tokens" if isinstance(train[0], TokenExample) else "text"
    ops = operations_for(kind, cfg.operations)
    ctx, record = build_context(train, cfg, kind, ops)
    added: list[Example] = []
    made: Counter[str] = Counter()
    unchanged: Counter[str] = Counter()
    skipped = 0
    for i, ex in enumerate(_progress(train, progress)):
        if _length(ex) < cfg.min_tokens:
            skipped += 1
            continue
        seen = {_key(ex)}
        for op in ops:
            for copy in range(cfg.copies):
                rng = random.Random(f"{cfg.seed}|{op.name}|{i}|{copy}")
                new = op.fn(ex, ctx, rng)
                if new is None or _key(new) in seen:  # nothing new: it would only reweight ex
                    unchanged[op.name] += 1
                    continue
                seen.add(_key(new))
                added.append(_relabel_origin(new, ex.origin, op.name, copy))
                made[op.name] += 1
    record = {
        "operations": [op.name for op in ops],
        **record,
        "copies": cfg.copies,
        "seed": cfg.seed,
        "min_tokens": cfg.min_tokens,
        "drawn_from": "training split only",
        "sentences_in": len(train),
        "skipped_short": skipped,
        "added": {op.name: made[op.name] for op in ops},
        "unchanged": {op.name: unchanged[op.name] for op in ops},
        "sentences_out": len(train) + len(added),
    }
    return [*train, *added], record


def _key(ex: Example) -> tuple[Any, ...]:
    if isinstance(ex, TokenExample):
        return (tuple(ex.tokens), tuple(ex.tags))
    return (ex.text,)


def _relabel_origin(ex: Example, origin: str, op: str, copy: int) -> Example:
    where = f"{origin} [augment {op} #{copy + 1}]" if origin else f"[augment {op} #{copy + 1}]"
    if isinstance(ex, TokenExample):
        return TokenExample(ex.tokens, ex.tags, where)
    assert isinstance(ex, TextExample)
    return TextExample(ex.text, ex.labels, where)


def _progress(items: list[Example], progress: bool | None) -> Any:
    """A rich progress bar on a terminal for large splits; the plain list otherwise."""
    import sys

    show = sys.stderr.isatty() if progress is None else progress
    if not show or len(items) < 5000:
        return items
    from rich.progress import track

    return track(items, description="augmenting", transient=True)
