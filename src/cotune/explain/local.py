"""Local explanations: which words drove one prediction, as JSON-able records.

`Explainer(predictor).explain(texts)` gives, per text, the model's prediction (the JSON `cotune
predict` prints) and one explanation per target: each label asked for (default: the predicted
one(s)), or each predicted entity (NER), with a signed score per word and its character offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from cotune.explain.faithfulness import TargetFaithfulness, faithfulness
from cotune.explain.layout import (
    Target,
    TextLayout,
    check_labels,
    check_text,
    classification_layout,
    joined_tokens,
    ner_layout,
)
from cotune.explain.methods import Context, Options, TokenScores, get_method
from cotune.explain.model import check_explainable, device_of, private_copy


@dataclass
class WordScore:
    word: str
    start: int  # text[start:end] == word
    end: int
    score: float | None  # None: the word lies outside the input the model saw

    def to_dict(self) -> dict[str, Any]:
        score = None if self.score is None else round(self.score, 6)
        return {"word": self.word, "start": self.start, "end": self.end, "score": score}


@dataclass
class TargetExplanation:
    label: str
    method: str
    words: list[WordScore]
    probability: float
    entity: dict[str, Any] | None = None
    logit: float | None = None
    baseline_logit: float | None = None
    delta: float | None = None
    faithfulness: dict[str, Any] | None = None  # ERASER scores of these word scores

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "method": self.method}
        if self.entity is not None:
            out["entity"] = self.entity
        out["probability"] = round(self.probability, 6)
        if self.logit is not None:
            out["logit"] = round(self.logit, 6)
        if self.baseline_logit is not None:
            out["baseline_logit"] = round(self.baseline_logit, 6)
        if self.delta is not None:
            out["convergence_delta"] = round(self.delta, 6)
            ends = (self.logit, self.baseline_logit)
            gap = abs(ends[0] - ends[1]) if ends[0] is not None and ends[1] is not None else 0.0
            out["relative_delta"] = round(abs(self.delta) / gap, 6) if gap > 0 else None
        if self.faithfulness is not None:
            out["faithfulness"] = {
                k: v if not isinstance(v, float) else round(v, 6)
                for k, v in self.faithfulness.items()
            }
        out["words"] = [w.to_dict() for w in self.words]
        return out


@dataclass
class TextExplanation:
    text: str
    prediction: dict[str, Any]
    targets: list[TargetExplanation]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "prediction": {k: v for k, v in self.prediction.items() if k != "text"},
            "explanations": [t.to_dict() for t in self.targets],
            "notes": self.notes,
        }


def word_scores(layout: TextLayout, window: int, scores: torch.Tensor) -> list[float | None]:
    """Token scores summed per word; None for words outside the window."""
    out: list[float | None] = [None] * len(layout.spans)
    for pos, w in enumerate(layout.windows[window].word_of):
        if w >= 0:
            out[w] = (out[w] or 0.0) + float(scores[pos])
    return out


@dataclass
class WordAttribution:
    """Per-word scores of one target, read through one or several windows (their mean: a long
    text's logit is the mean of its windows' logits, and attribution is linear in it)."""

    scores: list[float | None]
    logit: float | None = None
    baseline_logit: float | None = None
    delta: float | None = None


def _mean_of(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v or 0.0 for v in values) / len(values)


class Explainer:
    """Explains a loaded artifact's predictions with one attribution method.

    `private=True` differentiates through a copy of the module tree that shares the weights, so
    the hooks attribution registers never touch a model that serves predictions meanwhile.
    """

    def __init__(
        self,
        predictor: Any,
        method: str = "ig",
        options: Options | None = None,
        *,
        private: bool = False,
    ) -> None:
        check_explainable(predictor)
        self.predictor = predictor
        self.method = get_method(method)
        self.model = private_copy(predictor.model) if private else predictor.model
        self.model.eval()
        pad = predictor.tokenizer.pad_token_id
        self.context = Context(self.model, 0 if pad is None else int(pad), options or Options())
        self.ner = predictor.meta.task == "token-classification"

    def layouts(
        self, texts: Sequence[str], labels: Sequence[str] | None = None
    ) -> list[TextLayout]:
        """Inputs and targets of each text, after the model's own prediction."""
        texts = [check_text(t, i) for i, t in enumerate(texts)]
        wanted = check_labels(self.predictor, labels)
        predictions = self.predictor.task.predict_text(self.model, texts, 32)
        if self.ner:
            return [
                ner_layout(self.predictor, t, p, wanted, self.model)
                for t, p in zip(texts, predictions, strict=True)
            ]
        return [
            classification_layout(self.predictor, t, p, wanted, self.model)
            for t, p in zip(texts, predictions, strict=True)
        ]

    def token_layouts(self, sentences: Sequence[Sequence[str]]) -> list[TextLayout]:
        """NER on given words (a tagged corpus): predicted as `predict` scores them, each
        sentence joined by spaces so that entities and words keep character offsets."""
        from cotune.data.examples import TokenExample
        from cotune.tasks.token_classification import Entity, bio_spans

        examples = [TokenExample(list(s), ["O"] * len(s)) for s in sentences]
        out = []
        for ex, pred in zip(
            examples, self.predictor.task.predict(self.model, examples, 32), strict=True
        ):
            text, spans = joined_tokens(ex.tokens)
            entities = []
            for label, a, b in bio_spans(pred.tags):
                start, end = spans[a][0], spans[b - 1][1]
                score = sum(pred.scores[a:b]) / (b - a)
                entities.append(Entity(label, start, end, text[start:end], score))
            out.append(ner_layout(self.predictor, text, entities, None, self.model, spans))
        return out

    def faithfulness(
        self,
        layout: TextLayout,
        windows: list[int],
        target: Target,
        scores: Sequence[float | None],
    ) -> TargetFaithfulness | None:
        """ERASER scores of word `scores` for one target (deletion; NER: [MASK]). None for a
        target read through several windows: removal there would move the window cuts."""
        if len(windows) != 1:
            return None
        tok = self.predictor.tokenizer
        mask = tok.mask_token_id if tok.mask_token_id is not None else tok.unk_token_id
        return faithfulness(
            self.model,
            layout.windows[windows[0]],
            target,
            scores,
            removal="mask" if self.ner else "delete",
            pad_id=self.context.pad_id,
            mask_id=int(mask if mask is not None else self.context.pad_id),
        )

    @torch.no_grad()
    def probability(self, layout: TextLayout, windows: list[int], target: Target) -> float:
        """The model's probability of `target` (an entity's mean over words; several windows:
        from their mean logits, as predict reads a long text)."""
        rows = [layout.windows[k].input_ids for k in windows]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.context.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        device = device_of(self.model)
        logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        return float(target.probability(logits.float().mean(dim=0, keepdim=True))[0])

    def scores(self, layout: TextLayout, window: int, target: Target) -> TokenScores:
        """Token scores of one window (the registered method's own output)."""
        return self.method.attribute(self.context, layout.windows[window], target)

    def attribute(self, layout: TextLayout, windows: list[int], target: Target) -> WordAttribution:
        """Word scores of `target`, averaged over the windows its logit is read from."""
        parts = [(k, self.scores(layout, k, target)) for k in windows]
        per_word: list[float | None] = [None] * len(layout.spans)
        for k, part in parts:
            for w, v in enumerate(word_scores(layout, k, part.scores)):
                if v is not None:
                    per_word[w] = (per_word[w] or 0.0) + v / len(parts)
        return WordAttribution(
            per_word,
            _mean_of([p.logit for _, p in parts]),
            _mean_of([p.baseline_logit for _, p in parts]),
            _mean_of([p.delta for _, p in parts]),
        )

    def explain_layout(self, layout: TextLayout, *, faithful: bool = False) -> TextExplanation:
        """Attributions of every target of `layout`; `faithful` adds each one's ERASER scores."""
        targets = []
        notes = list(layout.notes)
        for windows, target in layout.targets:
            result = self.attribute(layout, windows, target)
            eraser = self.faithfulness(layout, windows, target, result.scores) if faithful else None
            if faithful and eraser is None:
                notes.append(f"{target.label}: no faithfulness scores for a multi-window text")
            targets.append(
                TargetExplanation(
                    label=target.label,
                    method=self.method.name,
                    words=[
                        WordScore(layout.text[s:e], s, e, v)
                        for (s, e), v in zip(layout.spans, result.scores, strict=True)
                    ],
                    probability=_probability(layout, target),
                    entity=target.entity,
                    logit=result.logit,
                    baseline_logit=result.baseline_logit,
                    delta=result.delta,
                    faithfulness=None if eraser is None else eraser.to_dict(),
                )
            )
        if self.ner and not layout.targets:
            notes.append("no entity predicted (or none of the types asked for): nothing to explain")
        return TextExplanation(layout.text, layout.prediction, targets, notes)

    def explain(
        self,
        texts: Sequence[str],
        labels: Sequence[str] | None = None,
        *,
        faithful: bool = False,
        progress: bool | None = False,
    ) -> list[TextExplanation]:
        from cotune.training.progress import make_progress

        layouts = self.layouts(texts, labels)
        out = []
        with make_progress(progress) as bar:
            task = bar.add_task("explain", total=len(layouts), info=self.method.name)
            for layout in layouts:
                out.append(self.explain_layout(layout, faithful=faithful))
                bar.advance(task)
        return out


def _probability(layout: TextLayout, target: Target) -> float:
    if target.entity is not None:
        return float(target.entity["score"])
    return float(layout.prediction["scores"][target.label])
