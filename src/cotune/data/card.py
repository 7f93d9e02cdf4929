"""Dataset card (`cotune data card NAME`): Markdown with a YAML header, Hugging Face format.

Size, label and length distributions per split, tag scheme, source (package, version, file
hashes) and licence note, all computed from the data as cotune reads and splits it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

import yaml

from cotune import __version__
from cotune.config.schema import DataConfig, SplitConfig
from cotune.data.examples import Example, Splits, TokenExample
from cotune.data.load import load_splits
from cotune.data.stats import describe, words_of

LENGTH_BUCKETS = (5, 10, 20, 40, 80, 160)  # upper bounds, in words


def size_category(n: int) -> str:
    """The Hugging Face `size_categories` bucket of n examples."""
    if n < 1000:
        return "n<1K"
    for low, high, name in (
        (1_000, 10_000, "1K<n<10K"),
        (10_000, 100_000, "10K<n<100K"),
        (100_000, 1_000_000, "100K<n<1M"),
    ):
        if low <= n < high:
            return name
    return "1M<n<10M"


def detect_language(examples: Sequence[Example]) -> str | None:
    """'zh' when most letters are CJK ideographs, 'en' when most are Latin, else None.

    A guess from the script (stated as such in the card), not a language identifier."""
    counts: Counter[str] = Counter()
    for ex in examples[:2000]:
        text = " ".join(ex.tokens) if isinstance(ex, TokenExample) else ex.text
        for ch in text:
            if "\u4e00" <= ch <= "\u9fff":
                counts["cjk"] += 1
            elif ch.isascii() and ch.isalpha():
                counts["latin"] += 1
            elif ch.isalpha():
                counts["other"] += 1
    total = sum(counts.values())
    if not total:
        return None
    top, n = counts.most_common(1)[0]
    if n / total < 0.6:
        return None
    return {"cjk": "zh", "latin": "en"}.get(top)


def length_histogram(examples: Sequence[Example]) -> dict[str, int]:
    hist: dict[str, int] = {}
    low = 1
    for high in LENGTH_BUCKETS:
        hist[f"{low}-{high}"] = 0
        low = high + 1
    hist[f">{LENGTH_BUCKETS[-1]}"] = 0
    keys = list(hist)
    for ex in examples:
        n = words_of(ex)
        i = next((k for k, high in enumerate(LENGTH_BUCKETS) if n <= high), len(LENGTH_BUCKETS))
        hist[keys[i]] += 1
    while len(keys) > 1 and hist[keys[-1]] == 0:  # no rows of zeros past the longest example
        del hist[keys.pop()]
    return hist


def tag_counts(examples: Sequence[Example]) -> dict[str, int]:
    """Token-level tag frequencies (NER): how much of the text is inside an entity."""
    c: Counter[str] = Counter()
    for ex in examples:
        if isinstance(ex, TokenExample):
            c.update(ex.tags)
    return dict(sorted(c.items(), key=lambda kv: -kv[1]))


def dataset_facts(splits: Splits, provenance: dict[str, Any]) -> dict[str, Any]:
    everything = splits.train + splits.dev + splits.test
    parts = {"train": splits.train, "dev": splits.dev, "test": splits.test}
    return {
        "kind": splits.kind,
        "task": "token-classification" if splits.kind == "tokens" else "text-classification",
        "language": detect_language(everything),
        "size": {k: len(v) for k, v in parts.items()} | {"all": len(everything)},
        "stats": {"all": describe(everything)} | {k: describe(v) for k, v in parts.items() if v},
        "length_histogram": length_histogram(everything),
        "tag_scheme": splits.record.get("tag_scheme_read"),
        "tags": tag_counts(everything) if splits.kind == "tokens" else None,
        "multi_label": splits.multi_label,
        "labels": splits.labels,
        "split": splits.record,
        "provenance": provenance,
    }


def _table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def render_dataset_card(name: str, facts: dict[str, Any]) -> str:
    prov = facts["provenance"]
    stats = facts["stats"]
    size = facts["size"]
    header: dict[str, Any] = {
        "pretty_name": name,
        "license": "other",
        "license_details": prov.get("licence"),
        "language": [facts["language"]] if facts["language"] else [],
        "task_categories": [facts["task"]],
        "size_categories": [size_category(size["all"])],
        "source_datasets": [prov.get("name")],
        "tags": ["cotune"],
    }
    is_ner = facts["kind"] == "tokens"
    label_word = "entities by type" if is_ner else "examples per label"
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).strip(), "---", ""]
    lines += [
        f"# Dataset card: {name}",
        "",
        prov.get("description") or f"A labelled file read by cotune ({facts['task']}).",
        "",
        "## Source",
        "",
        f"- name: `{prov.get('name')}`",
        f"- package: {prov.get('package') or 'none (a local file)'} "
        f"{prov.get('package_version') or ''}".rstrip(),
        "- files (sha256):",
        *[f"  - `{path}` `{digest}`" for path, digest in (prov.get("files") or {}).items()],
        "",
        "## Licence",
        "",
        f"{prov.get('licence')}",
        "",
        "## Size",
        "",
        *_table(
            [
                (s, size.get(s, 0), stats.get(s, {}).get("words", 0))
                for s in ("train", "dev", "test", "all")
            ],
            ("split", "examples", "words"),
        ),
        "",
        f"Split: {facts['split'].get('method')}, seed {facts['split'].get('seed')}; "
        f"rule: {facts['split'].get('rule', 'given files')}.",
        "",
        f"## Label distribution: {label_word}",
        "",
    ]
    split_names = [s for s in ("train", "dev", "test") if s in stats]
    lines += _table(
        [
            (lab, *[stats[s]["labels"].get(lab, 0) for s in split_names], count)
            for lab, count in stats["all"]["labels"].items()
        ],
        ("label", *split_names, "all"),
    )
    if is_ner:
        lines += ["", f"Tag scheme: read as {facts['tag_scheme']}, stored as IOB2 (BIO).", ""]
        lines += _table(list(facts["tags"].items()), ("tag", "tokens"))
    else:
        kind = "multi-label" if facts["multi_label"] else "one label per text"
        lines += ["", f"Labels: {', '.join(facts['labels'])} ({kind})."]
    lw = stats["all"]["length_words"]
    lines += [
        "",
        "## Length distribution (words per example)",
        "",
        f"min {lw['min']}, median {lw['p50']}, 95th percentile {lw['p95']}, max {lw['max']}.",
        "",
        *_table(list(facts["length_histogram"].items()), ("words", "examples")),
        "",
        "## Notes",
        "",
        f"- Language `{facts['language']}` is guessed from the script of the text."
        if facts["language"]
        else "- Language: not detected.",
        f"- Card written by cotune {__version__} on {dt.date.today().isoformat()}.",
    ]
    return "\n".join(lines) + "\n"


def dataset_card(name: str, *, seed: int = 13, cfg: DataConfig | None = None) -> str:
    """The card of a catalog source or a labelled file, split as cotune splits it."""
    cfg = cfg or DataConfig(source=name, split=SplitConfig(seed=seed))
    splits, provenance = load_splits(cfg)
    return render_dataset_card(name, dataset_facts(splits, provenance.to_dict()))
