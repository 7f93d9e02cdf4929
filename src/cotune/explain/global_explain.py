"""Global explanations: what drives each label or entity type across a data set, and the examples
the model gets wrong with high confidence, each with its attribution (error analysis a person can
read).

Words are keyed in lower case. A word's `total` is the sum of its scores over every explained
target of that label or type (how much it drives the label across the data), `mean` is per
occurrence; only words seen at least `min_count` times are ranked, so one odd tweet does not
top the table. NER keeps the words inside the entity apart from its context words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cotune.data.examples import Example, TextExample, TokenExample
from cotune.explain.layout import TextLayout, span_target
from cotune.explain.local import Explainer, TargetExplanation
from cotune.tasks.token_classification import bio_spans


@dataclass
class _Tally:
    total: float = 0.0
    count: int = 0

    def add(self, score: float) -> None:
        self.total += score
        self.count += 1


@dataclass
class _Words:
    by_label: dict[str, dict[str, _Tally]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(_Tally))
    )

    def add(self, label: str, word: str, score: float) -> None:
        self.by_label[label][word.lower()].add(score)

    def table(self, top: int, min_count: int) -> dict[str, list[dict[str, Any]]]:
        out = {}
        for label in sorted(self.by_label):
            rows: list[dict[str, Any]] = [
                {
                    "word": w,
                    "total": round(t.total, 6),
                    "mean": round(t.total / t.count, 6),
                    "count": t.count,
                }
                for w, t in self.by_label[label].items()
                if t.count >= min_count
            ]
            rows.sort(key=lambda r: -float(r["total"]))
            out[label] = rows[:top]
        return out


def explain_dataset(
    explainer: Explainer,
    examples: Sequence[Example],
    *,
    top: int = 20,
    errors: int = 10,
    min_count: int = 2,
    progress: bool | None = False,
) -> dict[str, Any]:
    """Top words per label (or entity type) and the most confident errors, explained."""
    from cotune.training.progress import make_progress

    if explainer.ner:
        sentences = [ex.tokens for ex in examples if isinstance(ex, TokenExample) and ex.tokens]
        golds = [ex.tags for ex in examples if isinstance(ex, TokenExample) and ex.tokens]
        layouts = explainer.token_layouts(sentences)
    else:
        texts = [ex for ex in examples if isinstance(ex, TextExample) and ex.text.strip()]
        layouts = explainer.layouts([ex.text for ex in texts])
        golds = [ex.labels for ex in texts]
    support, context = _Words(), _Words()
    wrong: list[dict[str, Any]] = []
    with make_progress(progress) as bar:
        task = bar.add_task("explain", total=len(layouts), info=explainer.method.name)
        for layout, gold in zip(layouts, golds, strict=True):
            explained = explainer.explain_layout(layout)
            for target in explained.targets:
                _tally(target, support, context)
            if explainer.ner:
                wrong += _ner_errors(explainer, layout, explained.targets, gold)
            else:
                wrong += _label_errors(explainer, layout, gold)
            bar.advance(task)
    wrong.sort(key=lambda e: -e["confidence"])
    out: dict[str, Any] = {
        "method": explainer.method.name,
        "examples": len(layouts),
        "min_count": min_count,
        "errors_found": len(wrong),
        "high_confidence_errors": wrong[:errors],
    }
    if explainer.ner:
        out["entity_words"] = support.table(top, min_count)
        out["context_words"] = context.table(top, min_count)
    else:
        out["label_words"] = support.table(top, min_count)
    return out


def _tally(target: TargetExplanation, inside: _Words, context: _Words) -> None:
    ent = target.entity
    for w in target.words:
        if w.score is None:
            continue
        within = ent is not None and ent["start"] <= w.start and w.end <= ent["end"]
        (inside if ent is None or within else context).add(target.label, w.word, w.score)


def _label_errors(
    explainer: Explainer, layout: TextLayout, gold: list[str]
) -> list[dict[str, Any]]:
    """A single-label text whose predicted label is not its gold one; explained for both."""
    predicted = layout.prediction["labels"]
    if sorted(predicted) == sorted(gold) or not predicted:
        return []
    label = predicted[0]
    known = explainer.predictor.meta.labels
    others = [g for g in gold if g != label and g in known]
    again = explainer.layouts([layout.text], [label, *others])[0]
    explained = explainer.explain_layout(again)
    return [
        {
            "text": layout.text,
            "predicted": predicted,
            "gold": gold,
            "confidence": float(layout.prediction["scores"][label]),
            "explanations": [t.to_dict() for t in explained.targets],
        }
    ]


def _ner_errors(
    explainer: Explainer, layout: TextLayout, targets: list[TargetExplanation], gold: list[str]
) -> list[dict[str, Any]]:
    """Predicted entities that are not a gold entity (wrong span or type), with their own
    explanation and, where a gold entity covers the same words, one for its type."""
    gold_spans = {(t, a, b) for t, a, b in bio_spans(gold)}
    first = {s: k for k, (s, _) in enumerate(layout.spans)}
    last = {e: k for k, (_, e) in enumerate(layout.spans)}
    out = []
    for target in targets:
        assert target.entity is not None
        a, b = first[target.entity["start"]], last[target.entity["end"]] + 1
        if (target.label, a, b) in gold_spans:
            continue
        known = explainer.predictor.task.label2id
        same_words = [t for t, ga, gb in gold_spans if (ga, gb) == (a, b) and f"B-{t}" in known]
        overlapping = [
            {"label": t, "text": layout.text[layout.spans[ga][0] : layout.spans[gb - 1][1]]}
            for t, ga, gb in sorted(gold_spans, key=lambda g: g[1])
            if ga < b and a < gb
        ]
        explanations = [target.to_dict()]
        if same_words:
            windows, gold_target = span_target(explainer.predictor, layout, same_words[0], a, b)
            scores = explainer.attribute(layout, windows, gold_target).scores
            explanations.append(
                {
                    "label": same_words[0],
                    "method": explainer.method.name,
                    "entity": gold_target.entity,
                    "gold": True,
                    "probability": round(explainer.probability(layout, windows, gold_target), 6),
                    "words": [
                        {
                            "word": layout.text[s:e],
                            "start": s,
                            "end": e,
                            "score": None if v is None else round(v, 6),
                        }
                        for (s, e), v in zip(layout.spans, scores, strict=True)
                    ],
                }
            )
        out.append(
            {
                "text": layout.text,
                "predicted": {"label": target.label, **target.entity},
                "gold": overlapping,
                "kind": "wrong type"
                if same_words
                else ("wrong span" if overlapping else "spurious"),
                "confidence": target.probability,
                "explanations": explanations,
            }
        )
    return out


def load_examples(predictor: Any, data: str | None, split: str) -> tuple[str, list[Example]]:
    """The labelled examples to explain, read the way `cotune evaluate` reads them: the
    artifact's recorded split of its own data (or of a catalog name), or a whole file."""
    from pathlib import Path

    from cotune.config.schema import DataConfig
    from cotune.data.load import load_splits, read_labelled
    from cotune.errors import DataError

    if split not in ("train", "dev", "test"):
        raise DataError(f"unknown split {split!r}", where="--split", fix="use train, dev or test")
    trained_on = DataConfig(**predictor.meta.config["data"])
    if data is None or data == trained_on.source:
        splits, _ = load_splits(trained_on)
        examples, name = getattr(splits, split), f"{trained_on.source or trained_on.train}:{split}"
    elif Path(data).is_file():
        cfg = trained_on.model_copy(update={"source": data, "train": None, "format": "auto"})
        examples, name = read_labelled(Path(data), cfg), data
    else:
        splits, _ = load_splits(DataConfig(source=data, repair_tags=trained_on.repair_tags))
        examples, name = getattr(splits, split), f"{data}:{split}"
    ner = predictor.meta.task == "token-classification"
    if not examples:
        raise DataError(f"{name} holds no examples", where="--data", fix="give a non-empty split")
    if isinstance(examples[0], TokenExample) != ner:
        raise DataError(
            f"{name} holds {'labelled texts' if ner else 'tagged tokens'}, but the model is a "
            f"{'token' if ner else 'sequence'}-classification model",
            where="--data",
            fix=f"explain on {'tagged tokens' if ner else 'labelled texts'}",
        )
    return name, list(examples)
