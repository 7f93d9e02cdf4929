"""Out-of-scope thresholds, chosen on dev.

A query is out of scope when its score falls below a threshold. Three scores are tried:
`max_prob` (the top intent's probability), `margin` (top minus second probability: low when
two intents compete), `knn` (cosine to the nearest training utterance: low when nothing like
it was seen). For each, the threshold is the lowest one that reaches the target out-of-scope
recall on dev; the score kept is the one that then keeps the most in-scope accuracy. The
table of all three goes into the card, so the choice can be checked.

Languages are calibrated apart (`calibrate_by_language`): a model trained on few Chinese
utterances is far less sure of its Chinese than of its English, so one shared threshold refuses
most in-scope Chinese queries, or lets most out-of-scope English ones through. A language with
too few out-of-scope dev rows of its own falls back to the threshold of all rows together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

SCORES = ("max_prob", "margin", "knn")


@dataclass(frozen=True)
class Threshold:
    score: str
    value: float
    oos_recall: float  # share of out-of-scope dev queries refused
    in_scope_accuracy: float  # in-scope dev queries accepted with the right intent / all
    in_scope_accuracy_raw: float  # the same without any threshold
    reached_target: bool
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def choose_threshold(
    score: str,
    values: np.ndarray,
    is_oos: np.ndarray,
    correct: np.ndarray,
    target_recall: float,
) -> Threshold:
    """`values`: the score per dev query; `is_oos`: out-of-scope rows; `correct`: in-scope rows
    whose top intent is right. Refused = value < threshold."""
    values = np.asarray(values, dtype=np.float64)
    inscope = ~is_oos
    raw = float(correct[inscope].mean()) if inscope.any() else 0.0
    if not is_oos.any():
        # no out-of-scope data: refuse the 3% least sure in-scope queries, and say so
        value = float(np.quantile(values[inscope], 0.03)) if inscope.any() else 0.0
        acc = float((correct & (values >= value))[inscope].mean()) if inscope.any() else 0.0
        return Threshold(
            score,
            value,
            float("nan"),
            acc,
            raw,
            False,
            "no out-of-scope examples: threshold keeps 97% of in-scope dev queries",
        )
    oos_values = np.sort(values[is_oos])
    # the k-th smallest out-of-scope value: refusing below it (plus a hair) gets k of n
    need = int(np.ceil(target_recall * len(oos_values)))
    value = float(np.nextafter(oos_values[need - 1], np.inf))
    recall = float((values[is_oos] < value).mean())
    acc = float((correct & (values >= value))[inscope].mean()) if inscope.any() else 0.0
    return Threshold(score, value, recall, acc, raw, recall >= target_recall)


def calibrate(
    scores: Mapping[str, np.ndarray],
    is_oos: Sequence[bool] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    target_recall: float,
    choose: str = "auto",
) -> tuple[Threshold, dict[str, Threshold]]:
    """All scores' thresholds, and the one kept (`choose`, or the best for in-scope accuracy)."""
    oos = np.asarray(is_oos, dtype=bool)
    ok = np.asarray(correct, dtype=bool)
    table = {name: choose_threshold(name, scores[name], oos, ok, target_recall) for name in scores}
    if choose != "auto":
        return table[choose], table
    best = max(table.values(), key=lambda t: (t.in_scope_accuracy, t.score == "max_prob"))
    return best, table


def score_values(probs: np.ndarray, knn: np.ndarray) -> dict[str, np.ndarray]:
    """The three scores from (n, intents) probabilities and (n,) nearest-utterance cosines."""
    top2 = -np.sort(-probs, axis=1)[:, :2]
    second = top2[:, 1] if probs.shape[1] > 1 else np.zeros(len(probs))
    return {"max_prob": top2[:, 0], "margin": top2[:, 0] - second, "knn": np.asarray(knn)}


MIN_OOS_PER_LANGUAGE = 5


def calibrate_by_language(
    scores: Mapping[str, np.ndarray],
    is_oos: Sequence[bool] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    langs: Sequence[str],
    target_recall: float,
    choose: str = "auto",
    min_oos: int = MIN_OOS_PER_LANGUAGE,
) -> dict[str, tuple[Threshold, dict[str, Threshold]]]:
    """`calibrate` on all rows (key "*") and on each language's rows that has at least
    `min_oos` out-of-scope and one in-scope dev row; languages left out use "*"."""
    oos = np.asarray(is_oos, dtype=bool)
    ok = np.asarray(correct, dtype=bool)
    lang_of = np.asarray(langs)
    out = {"*": calibrate(scores, oos, ok, target_recall, choose)}
    for lang in sorted(set(lang_of.tolist())):
        rows = lang_of == lang
        if (oos & rows).sum() >= min_oos and (~oos & rows).any():
            part = {name: np.asarray(v)[rows] for name, v in scores.items()}
            out[lang] = calibrate(part, oos[rows], ok[rows], target_recall, choose)
    return out


def accepted(
    by_lang: Mapping[str, tuple[Threshold, object]],
    scores: Mapping[str, np.ndarray],
    langs: Sequence[str],
) -> np.ndarray:
    """Which rows each one's threshold (its language's, else all rows') lets through: what the
    assistant does at answer time."""
    out = np.zeros(len(langs), dtype=bool)
    for i, lang in enumerate(langs):
        threshold = (by_lang.get(lang) or by_lang["*"])[0]
        out[i] = scores[threshold.score][i] >= threshold.value
    return out
