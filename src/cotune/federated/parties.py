"""Cutting a training split into parties for `cotune federate simulate`, and writing each
party's data to its own file (each SuperNode reads only its own).

IID: a seeded shuffle dealt round-robin. Skewed: each example gets a label (classification: its
label; NER: the entity type it mentions most, or "O" for none), and every label's examples are
spread over the parties by proportions drawn from Dirichlet(alpha) (Hsu et al. 2019): small
alpha gives each party a few dominant labels.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cotune.data.examples import Example, TextExample, TokenExample
from cotune.errors import ConfigError
from cotune.federated.config import PartitionOptions
from cotune.files import atomic_write_text


def skew_label(ex: Example) -> str:
    """The label a skewed partition groups an example by."""
    if isinstance(ex, TextExample):
        return "|".join(ex.labels)
    types = Counter(t[2:] for t in ex.tags if t.startswith("B-"))
    return types.most_common(1)[0][0] if types else "O"


def partition(
    examples: Sequence[Example], n_parties: int, opts: PartitionOptions
) -> list[list[int]]:
    """Indices of `examples` for each of `n_parties` parties (every example used once)."""
    n = len(examples)
    if n_parties < 1 or n < n_parties * opts.min_examples:
        raise ConfigError(
            f"{n} training examples cannot give {n_parties} parties at least "
            f"{opts.min_examples} each",
            where="federation.parties",
            fix="use fewer parties, more data, or a smaller federation.partition.min_examples",
        )
    rng = np.random.default_rng(opts.seed)
    if opts.scheme == "iid":
        order = rng.permutation(n)
        return [sorted(int(i) for i in order[p::n_parties]) for p in range(n_parties)]
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        by_label[skew_label(ex)].append(i)
    for _attempt in range(100):
        parts: list[list[int]] = [[] for _ in range(n_parties)]
        for label in sorted(by_label):
            idx = np.array(by_label[label])[rng.permutation(len(by_label[label]))]
            shares = rng.dirichlet([opts.alpha] * n_parties)
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for p, chunk in enumerate(np.split(idx, cuts)):
                parts[p] += [int(i) for i in chunk]
        if min(len(p) for p in parts) >= opts.min_examples:
            return [sorted(p) for p in parts]
    raise ConfigError(
        f"Dirichlet(alpha={opts.alpha}) left a party with fewer than {opts.min_examples} "
        "examples in 100 draws",
        where="federation.partition.alpha",
        fix="raise alpha, lower min_examples, or use fewer parties",
    )


def partition_stats(examples: Sequence[Example], parts: Sequence[Sequence[int]]) -> list[dict]:
    """Size and label mix of each party (recorded with the run, shown in the ledger)."""
    out = []
    for idx in parts:
        labels = Counter(skew_label(examples[i]) for i in idx)
        out.append({"examples": len(idx), "labels": dict(sorted(labels.items()))})
    return out


def write_examples(path: Path, examples: Sequence[Example]) -> Path:
    """A party's data as a file cotune reads back: CoNLL for tokens, JSONL for texts."""
    if examples and isinstance(examples[0], TokenExample):
        blocks = [
            "\n".join(f"{tok}\t{tag}" for tok, tag in zip(ex.tokens, ex.tags, strict=True))
            for ex in examples
            if isinstance(ex, TokenExample)
        ]
        path = path.with_suffix(".conll")
        atomic_write_text(path, "\n\n".join(blocks) + "\n")
    else:
        rows = [
            json.dumps({"text": ex.text, "labels": ex.labels}, ensure_ascii=False)
            for ex in examples
            if isinstance(ex, TextExample)
        ]
        path = path.with_suffix(".jsonl")
        atomic_write_text(path, "\n".join(rows) + "\n")
    return path


def write_parties(
    folder: Path, examples: Sequence[Example], parts: Sequence[Sequence[int]]
) -> list[dict[str, Any]]:
    """One data file per party under `folder`; returns [{name, path, examples}]."""
    out = []
    for p, idx in enumerate(parts, start=1):
        name = f"party-{p}"
        path = write_examples(folder / name, [examples[i] for i in idx])
        out.append({"name": name, "path": str(path), "examples": len(idx)})
    return out
