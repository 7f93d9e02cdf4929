"""The PII detector: cotune's recognisers, run through Presidio's AnalyzerEngine, plus names.

Presidio is the orchestrator, so any Presidio recogniser (a team's own PatternRecognizer, a
TransformersRecognizer) plugs in with `extra_recognizers`. Presidio's default engine would download
a spaCy model; here its NLP engine is built on blank spaCy pipelines (`spacy.blank("en")`,
`spacy.blank("zh")`), which tokenise without any download. cotune's recognisers do not use
Presidio's regex machinery because its patterns rely on `\\b`, which finds no boundary between a
Chinese character and an ASCII word (see recognizers.py); they are wrapped as EntityRecognizers
instead. With `backend="cotune"` the same recognisers run without Presidio (no import cost); both
backends give the same spans (tested).

Overlaps are settled after every recogniser has spoken (spans.resolve_overlaps), by score.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from cotune.errors import ConfigError
from cotune.privacy.deid.names import ArtifactNameRecognizer, HeuristicNameRecognizer, is_han
from cotune.privacy.deid.recognizers import Recognizer, pattern_recognizers
from cotune.privacy.deid.spans import ALL_TYPES, PiiSpan, resolve_overlaps

Backend = Literal["presidio", "cotune"]
NameSource = Literal["auto", "model", "heuristic", "both", "none"]
LANGUAGES = ("en", "zh")


def language_of(text: str) -> str:
    """'zh' when the text has any Han character, else 'en' (the two languages cotune covers)."""
    return "zh" if any(is_han(c) for c in text) else "en"


def _presidio_analyzer(recognizers: Sequence[Recognizer], extra: Sequence[Any]) -> Any:
    # tldextract (imported by presidio's URL recogniser) would fetch the public suffix list.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    import spacy
    from presidio_analyzer import (
        AnalyzerEngine,
        EntityRecognizer,
        RecognizerRegistry,
        RecognizerResult,
    )
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class CotuneRecognizer(EntityRecognizer):
        """A cotune Recognizer seen by Presidio."""

        def __init__(self, inner: Recognizer, language: str) -> None:
            self.inner = inner
            super().__init__(
                supported_entities=list(inner.entities),
                name=f"cotune:{inner.name}",
                supported_language=language,
            )

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            return [
                RecognizerResult(
                    s.type,
                    s.start,
                    s.end,
                    s.score,
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: s.source,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                )
                for s in self.inner.find(text)
                if s.type in entities
            ]

    nlp_engine = SpacyNlpEngine(
        models=[{"lang_code": lang, "model_name": "blank"} for lang in LANGUAGES]
    )
    blank: Any = {lang: spacy.blank(lang) for lang in LANGUAGES}
    nlp_engine.nlp = blank  # tokenisers only: nothing to download
    registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
    for lang in LANGUAGES:
        for rec in recognizers:
            registry.add_recognizer(CotuneRecognizer(rec, lang))
    for rec in extra:
        registry.add_recognizer(rec)
    return AnalyzerEngine(
        registry=registry, nlp_engine=nlp_engine, supported_languages=list(LANGUAGES)
    )


class PiiDetector:
    """Finds PII in texts; `detect_batch` batches the NER model when there is one."""

    def __init__(
        self,
        recognizers: Sequence[Recognizer] | None = None,
        *,
        ner: ArtifactNameRecognizer | None = None,
        entities: Iterable[str] | None = None,
        threshold: float = 0.5,
        backend: Backend = "presidio",
        extra_recognizers: Sequence[Any] = (),
    ) -> None:
        self.recognizers = list(recognizers if recognizers is not None else default_recognizers())
        self.ner = ner
        self.entities = set(entities) if entities is not None else set(ALL_TYPES)
        unknown = (
            self.entities
            - set(ALL_TYPES)
            - {e for r in extra_recognizers for e in r.supported_entities}
        )
        if unknown:
            raise ConfigError(
                f"unknown entity types {sorted(unknown)}",
                where="--entities",
                fix=f"choose among {', '.join(ALL_TYPES)}",
            )
        self.threshold = threshold
        self.backend = backend
        if extra_recognizers and backend != "presidio":
            raise ConfigError("extra Presidio recognisers need backend='presidio'", where="backend")
        self._analyzer = (
            _presidio_analyzer(self.recognizers, extra_recognizers)
            if backend == "presidio"
            else None
        )

    def _patterns(self, text: str) -> list[PiiSpan]:
        if self._analyzer is None:
            return [s for r in self.recognizers for s in r.find(text) if s.type in self.entities]
        results = self._analyzer.analyze(
            text=text, language=language_of(text), entities=sorted(self.entities)
        )
        out = []
        for r in results:
            meta = r.recognition_metadata or {}
            source = str(meta.get("recognizer_name", "presidio"))
            out.append(
                PiiSpan(r.entity_type, r.start, r.end, text[r.start : r.end], r.score, source)
            )
        return out

    def detect_batch(self, texts: Sequence[str]) -> list[list[PiiSpan]]:
        named: list[list[PiiSpan]] = [[] for _ in texts]
        if self.ner is not None and any(texts):
            named = self.ner.find_batch(texts)
        out = []
        for text, names in zip(texts, named, strict=True):
            found = self._patterns(text) if text.strip() else []
            found += [s for s in names if s.type in self.entities]
            out.append(resolve_overlaps(s for s in found if s.score >= self.threshold))
        return out

    def describe_names(self) -> str:
        """Where person/organisation/location names come from, for reports."""
        sources = [f"NER artifact {self.ner.predictor.folder}"] if self.ner else []
        if any(r.name == "name-heuristic" for r in self.recognizers):
            sources.append("heuristic (capitalisation, titles, suffixes, Chinese surnames)")
        return " + ".join(sources) or "none"

    def detect(self, text: str) -> list[PiiSpan]:
        return self.detect_batch([text])[0]


def default_recognizers(
    phone_regions: Sequence[str] = ("US", "CN", "GB"), heuristic_names: bool = True
) -> list[Recognizer]:
    recs = pattern_recognizers(phone_regions)
    if heuristic_names:
        recs.append(HeuristicNameRecognizer())
    return recs


def build_detector(
    *,
    ner_model: str | Path | None = None,
    label_map: dict[str, str] | None = None,
    names: NameSource = "auto",
    entities: Iterable[str] | None = None,
    threshold: float = 0.5,
    backend: Backend = "presidio",
    phone_regions: Sequence[str] = ("US", "CN", "GB"),
) -> PiiDetector:
    """The detector the CLI and the bench use. `names`: where person/org/location names come from
    ("auto": the NER model when one is given, else the heuristic)."""
    if names == "model" and ner_model is None:
        raise ConfigError(
            "names='model' needs a NER model", where="--names", fix="pass --ner-model"
        )
    use_model = ner_model is not None and names in ("auto", "model", "both")
    use_heuristic = names in ("heuristic", "both") or (names == "auto" and ner_model is None)
    ner = ArtifactNameRecognizer(ner_model, label_map) if use_model and ner_model else None
    return PiiDetector(
        default_recognizers(phone_regions, heuristic_names=use_heuristic),
        ner=ner,
        entities=entities,
        threshold=threshold,
        backend=backend,
    )
