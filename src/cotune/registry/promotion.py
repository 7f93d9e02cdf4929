"""Promote a candidate only if it is better: champion/challenger on the earlier and the new test
data (docs/continual.md).

The rule: the candidate's score on the new test set must beat the current version's by more than
`min_gain`, and its score on the earlier test set may drop by at most `margin` (both in the
metric's own units: 0.01 = one point of accuracy or F1). The decision, with every score, is
appended to the candidate's promotion.json and shown in its card, whether it was promoted or not.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cotune.artifact.lineage import PROMOTION_FILE, rewrite_card
from cotune.data.refs import load_examples
from cotune.errors import ArtifactError, DataError
from cotune.files import atomic_write_text


@dataclass
class Decision:
    name: str
    candidate: str  # registry reference
    current: str  # registry reference, or "none"
    alias: str
    metric: str
    margin: float
    min_gain: float
    sets: dict[str, dict[str, Any]]
    promoted: bool
    eligible: bool  # the rule holds (a dry run moves nothing either way)
    reason: str
    decided: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score(folder: Path, examples: list[Any], metric: str, where: str) -> float:
    from cotune.artifact.load import load_artifact
    from cotune.data.examples import TokenExample

    predictor = load_artifact(folder)
    want = predictor.meta.task == "token-classification"
    if any(isinstance(ex, TokenExample) != want for ex in examples):
        raise DataError(
            f"the set holds rows of another task than the {predictor.meta.task} model {folder}",
            where=where,
            fix="give a labelled test set of the model's task",
        )
    try:
        metrics = predictor.evaluate(examples)
    except (KeyError, IndexError, ValueError) as e:
        raise DataError(
            f"{folder} cannot be scored on this set ({type(e).__name__}: {e})",
            where=where,
            fix="give a test set of the model's task whose labels it knows",
        ) from None
    if metric not in metrics:
        raise ArtifactError(
            f"metric {metric!r} is not among {sorted(k for k in metrics if k[:1] != 'n')}",
            where=where,
            fix="pass --metric with one of them",
        )
    return float(metrics[metric])


def main_metric(folder: Path) -> str:
    metrics_file = folder / "metrics.json"
    if metrics_file.is_file():
        m = json.loads(metrics_file.read_text(encoding="utf-8"))
        if m.get("training", {}).get("metric"):
            return str(m["training"]["metric"])
    return "accuracy"


def compare(
    candidate: Path,
    current: Path | None,
    earlier: str,
    new: str,
    *,
    metric: str | None = None,
    margin: float = 0.01,
    min_gain: float = 0.0,
) -> tuple[dict[str, dict[str, Any]], bool, str, str]:
    """Score both models on both sets; return (sets, promote?, reason, metric)."""
    from cotune.artifact.meta import ArtifactMeta

    metric = metric or main_metric(candidate)
    own = ArtifactMeta.read(candidate).config.get("data")
    sets: dict[str, dict[str, Any]] = {}
    for role, ref in (("earlier", earlier), ("new", new)):
        examples = load_examples(ref, own_data=own)
        cand = score(candidate, examples, metric, f"--{role} {ref}")
        cur = score(current, examples, metric, f"--{role} {ref}") if current else None
        sets[role] = {
            "data": ref,
            "n": len(examples),
            "candidate": cand,
            "current": cur,
            "change": cand - cur if cur is not None else None,
        }
    if current is None:
        return sets, True, "no current version to beat: the candidate is the first", metric
    gain, drop = sets["new"]["change"], -sets["earlier"]["change"]
    if gain <= min_gain:
        reason = (
            f"not promoted: on the new data the candidate gains {gain:+.4f} {metric}, "
            f"not more than the required {min_gain:+.4f}"
        )
        return sets, False, reason, metric
    if drop > margin:
        reason = (
            f"not promoted: on the earlier data it loses {drop:.4f} {metric}, more than the "
            f"margin {margin:.4f} (forgetting)"
        )
        return sets, False, reason, metric
    reason = (
        f"promoted: new data {gain:+.4f} {metric}; earlier data {-drop:+.4f}, within the "
        f"margin {margin:.4f}"
    )
    return sets, True, reason, metric


def challenge(
    registry: Any,
    name: str,
    candidate: str,
    *,
    earlier: str,
    new: str,
    alias: str = "production",
    margin: float = 0.01,
    min_gain: float = 0.0,
    metric: str | None = None,
    dry_run: bool = False,
) -> Decision:
    """Compare `candidate` (a registered reference, or an artifact folder which is then
    registered as the next version of `name`) with `name@alias`; move the alias only if the
    rule holds (never with `dry_run`). The decision goes to the candidate's card either way."""
    folder = Path(candidate)
    if folder.is_dir():
        info = None
    elif "/" in candidate or "\\" in candidate:  # a path, not NAME:VERSION
        raise ArtifactError(
            "no such artifact folder", where=candidate, fix="train it first, or check the path"
        )
    else:
        info = registry.get(candidate)
        folder = Path(info.source)
        if not folder.is_dir():
            raise ArtifactError(
                f"{info.ref}: its folder {info.source} is not on this machine",
                fix="export it first (cotune registry export) and pass the folder",
            )
    try:
        current_info = registry.get(f"{name}@{alias}")
    except ArtifactError:
        current_info = None
    current = Path(current_info.source) if current_info is not None else None
    if current is not None and not current.is_dir():
        raise ArtifactError(
            f"the current {name}@{alias} folder {current} is not on this machine",
            fix="export it (cotune registry export) or restore the folder",
        )
    sets, promote, reason, used = compare(
        folder, current, earlier, new, metric=metric, margin=margin, min_gain=min_gain
    )
    if info is None and not dry_run:
        info = registry.add(name, folder)
    ref = info.ref if info is not None else str(folder)
    if promote and not dry_run:
        assert info is not None
        registry.promote(info.ref, alias=alias)
    decision = Decision(
        name=name,
        candidate=ref,
        current=current_info.ref if current_info is not None else "none",
        alias=alias,
        metric=used,
        margin=margin,
        min_gain=min_gain,
        sets=sets,
        promoted=promote and not dry_run,
        eligible=promote,
        reason=reason + (" (dry run: nothing moved)" if dry_run else ""),
        decided=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    record(folder, decision)
    return decision


def record(folder: Path, decision: Decision) -> None:
    """Append the decision to promotion.json and re-render the card (both atomically)."""
    path = folder / PROMOTION_FILE
    past = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    atomic_write_text(path, json.dumps([*past, decision.to_dict()], indent=2))
    rewrite_card(folder)
