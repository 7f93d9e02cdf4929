"""What to explain in a text: the model's inputs (windows), which word each position belongs to,
and the targets (a label's logit, or an entity's tag logits at its words).

The inputs are the very ones `predict` runs: classification truncates at `max_length`; NER cuts a
long text into the task's windows and explains each entity inside the window that predicts it.
Words are the tokenizer's own (`cotune.tasks.words.word_spans`), so their character offsets slice
the original text, English or Chinese (each CJK character is a word to a BERT tokenizer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from cotune.data.examples import TextExample, TokenExample
from cotune.data.tagging import split_tag
from cotune.errors import ConfigError, DataError
from cotune.tasks.words import word_spans


@dataclass(frozen=True)
class Target:
    """One quantity to attribute: the sum of `classes[i]`'s logit at `positions[i]`
    (NER: an entity's predicted tag at each of its words), or one label's logit (positions None).
    """

    label: str
    classes: list[int]
    positions: list[int] | None = None
    entity: dict[str, Any] | None = None  # {"start", "end", "text"} in the original text
    multi_label: bool = False

    def logit(self, logits: torch.Tensor) -> torch.Tensor:
        """[batch, ...] logits -> [batch] target logit."""
        if self.positions is None:
            return logits[:, self.classes[0]]
        return logits[:, self.positions, self.classes].sum(dim=-1)

    def probability(self, logits: torch.Tensor) -> torch.Tensor:
        """[batch, ...] logits -> [batch] probability of the target (mean over entity words)."""
        if self.positions is None:
            if self.multi_label:
                return torch.sigmoid(logits[:, self.classes[0]])
            return torch.softmax(logits, dim=-1)[:, self.classes[0]]
        probs = torch.softmax(logits[:, self.positions, :], dim=-1)
        idx = torch.arange(len(self.positions))
        return probs[:, idx, self.classes].mean(dim=-1)


@dataclass
class Window:
    """One model input and, per position, the index of its word (-1: special token)."""

    input_ids: list[int]
    word_of: list[int]


@dataclass
class TextLayout:
    text: str
    spans: list[tuple[int, int]]  # character offsets of each word
    windows: list[Window]
    # (the windows a target's logit is read from, the target); several: their mean
    targets: list[tuple[list[int], Target]] = field(default_factory=list)
    prediction: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def words(self) -> list[str]:
        return [self.text[s:e] for s, e in self.spans]


def check_text(text: Any, index: int) -> str:
    if not isinstance(text, str):
        raise DataError(f"text {index} is not a string: {text!r}", fix="give texts as strings")
    if not text.strip():
        raise DataError(
            f"text {index} is empty: there are no words to explain", fix="give a non-empty text"
        )
    return text


def entity_types(labels: Sequence[str]) -> list[str]:
    return sorted({split_tag(lab)[1] for lab in labels if lab != "O"})


def check_labels(predictor: Any, wanted: Sequence[str] | None) -> list[str] | None:
    """The labels (classification) or entity types (NER) asked for, each one the model has."""
    if not wanted:
        return None
    ner = predictor.meta.task == "token-classification"
    known = entity_types(predictor.meta.labels) if ner else list(predictor.meta.labels)
    for label in wanted:
        if label not in known:
            kind = "entity type" if ner else "label"
            raise ConfigError(
                f"the model has no {kind} {label!r}",
                where="--label",
                fix=f"use one of: {', '.join(known)}",
            )
    return list(wanted)


def classification_layout(
    predictor: Any, text: str, prediction: Any, wanted: list[str] | None, model: Any
) -> TextLayout:
    """The windows `predict` reads (one for a text that fits; overlapping full-length windows
    for a longer one, unless `long_texts: truncate`) and one target per label asked for. Each
    target reads the windows its text logit comes from: every window (mean) or the one holding
    that label's highest logit (max)."""
    from cotune.tasks.sequence_classification import window_bounds
    from cotune.uses.predict import as_dict

    task, tok = predictor.task, predictor.tokenizer
    cfg = task.cfg
    spans = word_spans(text, tok)
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    prefix, suffix = task._frame()  # the task's own [CLS] ... [SEP] frame
    budget = cfg.max_length - len(prefix) - len(suffix)
    bounds = window_bounds(len(ids), budget, cfg.window_overlap)
    if cfg.long_texts == "truncate":
        bounds = bounds[:1]
    windows = [
        Window(
            prefix + ids[a:b] + suffix,
            [-1] * len(prefix)
            + [_word_at(spans, *offsets[k]) for k in range(a, b)]
            + [-1] * len(suffix),
        )
        for a, b in bounds
    ]
    expected = [f.input_ids for f in task.windows([TextExample(text, [])])]
    if [w.input_ids for w in windows] != expected:  # the task's windowing changed under us
        raise RuntimeError("explain: window layout does not match the task's encoding")
    layout = TextLayout(text, spans, windows)
    seen = {w for win in windows for w in win.word_of if w >= 0}
    if len(seen) < len(spans):
        layout.notes.append(
            f"truncated at max_length={cfg.max_length} tokens, as predict does "
            f"(long_texts: truncate): {len(spans) - len(seen)} words are not seen by the model "
            "and get no attribution"
        )
    elif len(windows) > 1:
        how = "averages" if cfg.long_texts == "mean" else "takes each label's highest logit over"
        layout.notes.append(
            f"longer than max_length={cfg.max_length} tokens: read as {len(windows)} "
            f"overlapping windows as predict does, which {how} the windows' logits; each word's "
            "score is explained through the window(s) the label's logit comes from"
        )
    layout.prediction = as_dict(text, prediction)
    multi = bool(getattr(task, "multi_label", False))
    labels = wanted or list(prediction.labels) or [prediction.top(1)[0][0]]
    index = {lab: i for i, lab in enumerate(predictor.meta.labels)}
    for lab in labels:
        target = Target(lab, [index[lab]], multi_label=multi)
        layout.targets.append((_windows_of(model, windows, target, cfg.long_texts), target))
    return layout


@torch.no_grad()
def _windows_of(model: Any, windows: list[Window], target: Target, how: str) -> list[int]:
    if how != "max" or len(windows) == 1:
        return list(range(len(windows)))
    from cotune.explain.model import device_of

    width = max(len(w.input_ids) for w in windows)
    ids = torch.zeros((len(windows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, w in enumerate(windows):
        ids[row, : len(w.input_ids)] = torch.tensor(w.input_ids)
        mask[row, : len(w.input_ids)] = 1
    device = device_of(model)
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    return [int(target.logit(logits).argmax())]


def _word_at(spans: list[tuple[int, int]], start: int, end: int) -> int:
    if end <= start:
        return -1  # special tokens have (0, 0)
    for k, (s, e) in enumerate(spans):
        if s <= start < e:
            return k
    return -1


def ner_layout(
    predictor: Any,
    text: str,
    entities: list[Any],
    wanted: list[str] | None,
    model: Any,
    spans: list[tuple[int, int]] | None = None,
) -> TextLayout:
    """Windows as `TokenClassification.encode` cuts them; one target per predicted entity.

    `spans`: the words' character offsets when the words are given (a tagged corpus), else the
    tokenizer's words of `text`, as `predict_text` splits them.
    """
    from cotune.uses.predict import as_dict

    task, tok = predictor.task, predictor.tokenizer
    spans = word_spans(text, tok) if spans is None else spans
    words = [text[s:e] for s, e in spans]
    example = TokenExample(words, ["O"] * len(words))
    features = task.encode([example], with_labels=False)
    # the window bounds of each feature, in words: the task's own windowing, so every word sits
    # where predict put it (context words included, which `Feature.word_index` leaves out)
    pieces, bounds = task._windows(task._word_pieces([words])[0])
    windows = []
    for feature, (left, _start, _end, right) in zip(features, bounds, strict=True):
        word_of = [-1] + [w for w in range(left, right) for _ in pieces[w]] + [-1]
        if len(word_of) != len(feature.input_ids):  # the task's windowing changed under us
            raise RuntimeError("explain: window layout does not match the task's encoding")
        windows.append(Window(list(feature.input_ids), word_of))
    layout = TextLayout(text, spans, windows)
    layout.prediction = as_dict(text, entities)
    if len(windows) > 1:
        layout.notes.append(
            f"longer than max_length={task.cfg.max_length} tokens: cut into {len(windows)} "
            "windows as predict does; each entity is explained inside the window that predicts "
            "it, and words outside that window get no attribution"
        )
    owner = {w: k for k, f in enumerate(features) for w in f.word_index if w >= 0}
    first = {s: k for k, (s, _) in enumerate(spans)}
    last = {e: k for k, (_, e) in enumerate(spans)}
    for ent in entities:
        if wanted and ent.label not in wanted:
            continue
        a, b = first[ent.start], last[ent.end] + 1
        k = owner[a]
        win = windows[k]
        positions = [win.word_of.index(w) for w in range(a, b) if w in win.word_of]
        if len(positions) < b - a:
            layout.notes.append(
                f"the {ent.label} entity {ent.text[:40]!r} runs past the window that predicts "
                f"its first word: it is explained through the {len(positions)} of its {b - a} "
                "words that window holds"
            )
        layout.targets.append(([k], _entity_target(model, win, positions, ent)))
    return layout


@torch.no_grad()
def _entity_target(model: Any, win: Window, positions: list[int], ent: Any) -> Target:
    """The entity's tag at each of its words as the model chose it (argmax, before the IOB2
    repair that predict applies, which keeps the type), so the target is the logit it acted on."""
    from cotune.explain.model import device_of

    ids = torch.tensor([win.input_ids], device=device_of(model))
    logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0]
    classes = [int(logits[p].argmax()) for p in positions]
    span = {"start": ent.start, "end": ent.end, "text": ent.text, "score": round(ent.score, 6)}
    return Target(ent.label, classes, positions, span)


def joined_tokens(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """A tagged sentence as one text (tokens joined by spaces) and each token's offsets."""
    spans, at = [], 0
    for token in tokens:
        spans.append((at, at + len(token)))
        at += len(token) + 1
    return " ".join(tokens), spans


def span_target(
    predictor: Any, layout: TextLayout, label: str, a: int, b: int
) -> tuple[list[int], Target]:
    """A target for words a..b-1 read as a `label` entity (B-label, I-label...) whatever the
    model predicted there: what speaks for and against the type a gold entity has."""
    ids = predictor.task.label2id
    owner = next((k for k, win in enumerate(layout.windows) if a in win.word_of), 0)
    win = layout.windows[owner]
    words = [w for w in range(a, b) if w in win.word_of]
    positions = [win.word_of.index(w) for w in words]
    classes = [ids[f"B-{label}" if w == a else f"I-{label}"] for w in words]
    start, end = layout.spans[a][0], layout.spans[b - 1][1]
    entity = {"start": start, "end": end, "text": layout.text[start:end], "score": 0.0}
    return [owner], Target(label, classes, positions, entity)
