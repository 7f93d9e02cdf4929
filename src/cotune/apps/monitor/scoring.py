"""Scores events with cotune artifacts: sentiment (any sequence-classification model, its labels
mapped by name), topic (the event's own, else a topic classifier, else the default) and,
optionally, the organisations an NER model finds in the text."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cotune.apps.monitor.config import EventsConfig, ModelsConfig
from cotune.apps.monitor.events import Event
from cotune.errors import ArtifactError


@dataclass
class Scored:
    event: Event
    sentiment: str  # negative | neutral | positive
    p_negative: float
    score: float  # P(positive) - P(negative), in [-1, 1]
    topic: str
    orgs: list[str] = field(default_factory=list)

    @property
    def negative(self) -> bool:
        return self.sentiment == "negative"


class SentimentMap:
    """The classifier's labels, read as negative / neutral / positive by their names."""

    def __init__(self, labels: Sequence[str], cfg: ModelsConfig, where: str) -> None:
        neg = {x.lower() for x in cfg.negative_labels}
        pos = {x.lower() for x in cfg.positive_labels}
        self.kind = {lab: _kind(lab, neg, pos) for lab in labels}
        if "negative" not in self.kind.values() or "positive" not in self.kind.values():
            raise ArtifactError(
                f"the sentiment model's labels {list(labels)} have no negative and positive label",
                where=where,
                fix="name them in models.negative_labels / models.positive_labels",
            )

    def read(self, probs: dict[str, float]) -> tuple[str, float, float]:
        p = {"negative": 0.0, "neutral": 0.0, "positive": 0.0}
        for label, value in probs.items():
            p[self.kind[label]] += value
        sentiment = max(p, key=lambda k: p[k])
        return sentiment, p["negative"], p["positive"] - p["negative"]


def _kind(label: str, neg: set[str], pos: set[str]) -> str:
    name = label.lower()
    return "negative" if name in neg else "positive" if name in pos else "neutral"


def _load(folder: str, want: str, role: str) -> Any:
    from cotune.artifact import load_artifact

    predictor = load_artifact(folder)
    if predictor.meta.task != want:
        raise ArtifactError(
            f"models.{role} is a {predictor.meta.task} model; it must be {want}",
            where=folder,
            fix=f"point models.{role} at a {want} artifact",
        )
    return predictor


def clean_org(name: str) -> str:
    """One key per company however it is written: NFKC, single spaces, stripped punctuation."""
    name = " ".join(unicodedata.normalize("NFKC", name).split()).strip(" .,;:'\"()")
    return name.lower()


class Scorer:
    def __init__(self, models: ModelsConfig, events: EventsConfig) -> None:
        if models.threads:
            import torch

            torch.set_num_threads(models.threads)
        self.cfg, self.default_topic = models, events.default_topic
        self.sentiment = _load(models.sentiment, "sequence-classification", "sentiment")
        self.map = SentimentMap(self.sentiment.meta.labels, models, models.sentiment)
        self.topic = (
            _load(models.topic, "sequence-classification", "topic") if models.topic else None
        )
        self.ner = _load(models.ner, "token-classification", "ner") if models.ner else None
        self.org_types = {t.lower() for t in models.org_types}

    def score(self, events: Sequence[Event]) -> list[Scored]:
        if not events:
            return []
        texts = [e.text for e in events]
        bs = self.cfg.batch_size
        sentiments = self.sentiment.predict_text(texts, batch_size=bs)
        topics = [e.topic for e in events]
        need = [i for i, t in enumerate(topics) if t is None]
        if need and self.topic is not None:
            for i, pred in zip(
                need, self.topic.predict_text([texts[i] for i in need], bs), strict=True
            ):
                topics[i] = pred.labels[0] if pred.labels else None
        orgs: list[list[str]] = [[] for _ in events]
        if self.ner is not None:
            for i, ents in enumerate(self.ner.predict_text(texts, bs)):
                found = {clean_org(e.text) for e in ents if e.label.lower() in self.org_types}
                orgs[i] = sorted(o for o in found if o)
        out = []
        for event, pred, topic, org in zip(events, sentiments, topics, orgs, strict=True):
            sentiment, p_neg, score = self.map.read(pred.probs)
            out.append(Scored(event, sentiment, p_neg, score, topic or self.default_topic, org))
        return out
