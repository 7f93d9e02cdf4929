"""A built assistant answering queries: intent with out-of-scope detection, an FAQ answer
retrieved (dense + BM25, fused) that must agree with the intent, and the hand-off decision.

    bot = Assistant.load("runs/bank-assistant")
    bot.ask("I lost my card")   # {"intent", "confidence", "answer", "faq_id", "handoff", ...}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cotune.apps.assistant.config import AssistantConfig
from cotune.apps.assistant.data import FaqEntry, detect_lang
from cotune.apps.assistant.handoff import HandoffRequest
from cotune.apps.assistant.lexical_intent import LexicalIntents, mix
from cotune.errors import ArtifactError, DataError

MARKER = "assistant.json"


def check_query(text: Any, max_chars: int, where: str = "query") -> str:
    """The query, stripped; empty, non-text or longer than `max_chars` is a DataError."""
    if not isinstance(text, str):
        raise DataError(
            f"the query is {type(text).__name__}, not text", where=where, fix='send {"text": "..."}'
        )
    text = text.strip()
    if not text:
        raise DataError("the query is empty", where=where, fix="type a question")
    if len(text) > max_chars:
        raise DataError(
            f"the query has {len(text)} characters; at most {max_chars} are accepted",
            where=where,
            fix="send one question, not a document (or rebuild with a larger max_chars)",
        )
    return text


def model_probs(predictor: Any, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The intent model's labels and its (n, labels) probabilities for `texts`."""
    preds = predictor.predict_text(list(texts), batch_size=32)
    labels = list(preds[0].probs)
    return labels, np.array([[p.probs[lab] for lab in labels] for p in preds], dtype=np.float64)


class Assistant:
    """Load with `Assistant.load(folder)`; `ask` answers one query, `ask_many` several."""

    def __init__(self, folder: Path) -> None:
        from cotune.artifact import load_artifact
        from cotune.retrieval import LexicalIndex, SentenceEncoder, open_index

        self.folder = folder
        try:
            self.meta: dict[str, Any] = json.loads((folder / MARKER).read_text(encoding="utf-8"))
            self.config = AssistantConfig.model_validate(self.meta["config"])
        except (OSError, ValueError, KeyError) as e:
            raise ArtifactError(
                f"{folder} is not a built assistant: {e}",
                where=str(folder),
                fix="build it with `cotune assistant build`",
            ) from None
        self.predictor = load_artifact(folder / "intent")
        self.lexical_weight = float(self.meta.get("intent_mix", {}).get("lexical_weight", 0.0))
        # refitted from its text (under a second), and only when it takes part
        self.lexical_intents = LexicalIntents.load(folder) if self.lexical_weight > 0 else None
        self.encoder = SentenceEncoder.load(folder / "encoder")
        self.faq_index = open_index(folder / "faq_index")
        self.utterances = open_index(folder / "utterances")
        self.lexical = LexicalIndex.load(folder)
        self.faq: dict[str, FaqEntry] = {}
        for line in (folder / "faq.jsonl").read_text(encoding="utf-8").splitlines():
            entry = FaqEntry(**json.loads(line))
            self.faq[entry.id] = entry
        if set(self.faq) != set(self.lexical.ids) or len(self.faq_index) != len(self.faq):
            raise ArtifactError(
                f"{folder}: the FAQ and its indexes are out of step",
                where=str(folder),
                fix="rebuild the assistant",
            )
        self.threshold = self.meta["threshold"]
        # folders built before per-language calibration hold only the shared threshold
        self.threshold_by_lang: dict[str, dict[str, Any]] = {
            lang: v["chosen"] for lang, v in self.meta.get("threshold_by_lang", {}).items()
        }
        self.wants_person = HandoffRequest(self.config.handoff_phrases)

    @classmethod
    def load(cls, folder: str | Path) -> Assistant:
        folder = Path(folder)
        if not (folder / MARKER).is_file():
            raise ArtifactError(
                f"{folder} holds no {MARKER}: not a built assistant",
                where=str(folder),
                fix="build one with `cotune assistant build --intents ... --faq ... --out DIR`",
            )
        return cls(folder)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.folder.name))

    def ask(self, text: str) -> dict[str, Any]:
        return self.ask_many([text])[0]

    def ask_many(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Answer each query (each checked by `check_query` first)."""
        queries = [
            check_query(t, self.config.max_chars, f"query {i + 1}") for i, t in enumerate(texts)
        ]
        if not queries:
            return []
        labels, probs = model_probs(self.predictor, queries)
        if self.lexical_intents is not None and self.lexical_weight > 0:
            by_chars = self.lexical_intents.probs(queries, labels)
            probs = mix(probs, by_chars, self.lexical_weight)
        vectors = self.encoder.encode(queries, batch_size=32)
        knn = np.array([hits[0][1] if hits else 0.0 for hits in self.utterances.search(vectors, 1)])
        wide = max(4 * self.config.retrieval.top_k, 20)
        dense = self.faq_index.search(vectors, wide)
        lexical = self.lexical.search(queries, wide)
        return [
            self._decide(q, labels, probs[i], float(knn[i]), dense[i], lexical[i])
            for i, q in enumerate(queries)
        ]

    def _decide(
        self,
        query: str,
        labels: list[str],
        probs: np.ndarray,
        knn: float,
        dense: list[tuple[str, float]],
        lexical: list[tuple[str, float]],
    ) -> dict[str, Any]:
        from cotune.retrieval import fuse

        cfg = self.config
        order = np.argsort(-probs)
        top, p = labels[int(order[0])], float(probs[order[0]])
        second = float(probs[order[1]]) if len(order) > 1 else 0.0
        scores = {"max_prob": p, "margin": p - second, "knn": knn}
        lang = detect_lang(query)
        threshold = self.threshold_by_lang.get(lang, self.threshold)
        in_scope = scores[threshold["score"]] >= threshold["value"]
        fused = fuse(
            [dense, lexical], cfg.retrieval.fusion, weights=[1.0, cfg.retrieval.lexical_weight]
        )
        # answer in the customer's language when the FAQ has entries in it
        if any(self.faq[i].lang == lang for i, _ in fused):
            fused = [(i, s) for i, s in fused if self.faq[i].lang == lang]
        candidates = [{"faq_id": i, "score": round(s, 4)} for i, s in fused[: cfg.retrieval.top_k]]
        intent = top if in_scope else None
        answer_id, confidence, reason = None, p, None
        if intent is None:
            reason = "out of scope"
        else:
            agreeing = [i for i, _ in fused if self.faq[i].intent in (intent, None)]
            shown = {c["faq_id"] for c in candidates}
            first = fused[0][0] if fused else None
            if agreeing and agreeing[0] in shown:
                # the best candidate of the predicted intent, if retrieval ranks it in the top k
                answer_id = agreeing[0]
            else:
                # the intent model decides which answer; a retrieval that disagrees costs trust
                confidence = p * cfg.oos.agreement_penalty
                answer_id = agreeing[0] if agreeing else first
                reason = "answer disagrees with intent" if first is not None else "no answer"
        if self.wants_person(query):
            reason = "asked for a person"
        handoff = intent is None or answer_id is None or confidence < cfg.oos.handoff_below
        if reason == "asked for a person":
            handoff = True
        elif handoff and reason is None:
            reason = "low confidence"
        entry = self.faq.get(answer_id) if answer_id else None
        return {
            "text": query,
            "lang": lang,
            "intent": intent,
            "confidence": round(confidence, 4),
            "answer": entry.answer if entry else None,
            "faq_id": answer_id,
            "handoff": handoff,
            "reason": reason,
            "candidates": candidates,
            "scores": {k: round(v, 4) for k, v in scores.items()}
            | {"threshold": round(threshold["value"], 4), "score": threshold["score"]},
            "top_intent": top,
        }
