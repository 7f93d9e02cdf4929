"""Paired bootstrap: how sure is "artifact A scores more than artifact B" on one evaluation set?

Both artifacts predict the same examples of the split their runs recorded (they must record the
same data). Each example is reduced to counts that add up over a set: (true positives,
predicted, gold) entities for NER's strict entity F1 and multi-label micro-F1, (correct, 1) for
accuracy; the counts give back the task's own figure on the full set (checked). The examples are
then resampled with replacement `--samples` times, the same resamples for A and B. Prints both
metrics, the difference A - B, its 95% percentile interval, and the share of resamples in which
A does not beat B (a one-sided p-value).

    python bench/paired_bootstrap.py runs/a runs/b                 # test split, 10,000 resamples
    python bench/paired_bootstrap.py runs/a runs/b --split dev --out /tmp/ab.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

METRICS = ("f1", "accuracy", "micro_f1")  # metrics whose counts add up over examples


def example_counts(metric: str, predictions: Sequence[Any], examples: Sequence[Any]) -> np.ndarray:
    """One row of additive counts per example: (tp, predicted, gold) for F1s, (correct, 1)."""
    if metric == "f1":  # strict IOB2 entity spans, as the token-classification task scores them
        from seqeval.scheme import IOB2, Entities

        gold = Entities([ex.tags for ex in examples], IOB2).entities
        pred = Entities([p.tags for p in predictions], IOB2).entities
        rows: list[tuple[float, ...]] = []
        for g, p in zip(gold, pred, strict=True):
            gs, ps = {e.to_tuple() for e in g}, {e.to_tuple() for e in p}
            rows.append((len(gs & ps), len(ps), len(gs)))
        return np.array(rows, dtype=float)
    if metric == "micro_f1":
        rows = [
            (len(set(ex.labels) & set(p.labels)), len(set(p.labels)), len(set(ex.labels)))
            for ex, p in zip(examples, predictions, strict=True)
        ]
        return np.array(rows, dtype=float)
    if metric == "accuracy":
        rows = [
            (float(ex.labels[0] == p.labels[0]), 1.0)
            for ex, p in zip(examples, predictions, strict=True)
        ]
        return np.array(rows, dtype=float)
    raise SystemExit(
        f"error: --metric {metric!r} is not additive over examples; use one of {METRICS}"
    )


def metric_from_sums(metric: str, sums: np.ndarray) -> np.ndarray:
    """The metric of each row of summed counts (last axis: the counts)."""
    if metric == "accuracy":
        return sums[..., 0] / sums[..., 1]
    denom = sums[..., 1] + sums[..., 2]
    return np.divide(2 * sums[..., 0], denom, out=np.zeros_like(denom), where=denom > 0)


def paired_bootstrap(
    metric: str, counts_a: np.ndarray, counts_b: np.ndarray, samples: int, seed: int
) -> dict[str, Any]:
    n = len(counts_a)
    idx = np.random.default_rng(seed).integers(0, n, size=(samples, n))
    diffs = metric_from_sums(metric, counts_a[idx].sum(axis=1)) - metric_from_sums(
        metric, counts_b[idx].sum(axis=1)
    )
    a, b = (float(metric_from_sums(metric, c.sum(axis=0))) for c in (counts_a, counts_b))
    return {
        "a": a,
        "b": b,
        "diff": a - b,
        "ci95": [float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975))],
        "p_a_not_better": float(np.mean(diffs <= 0)),
        "samples": samples,
        "examples": n,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--split", default="test", choices=["dev", "test"])
    ap.add_argument("--metric", choices=METRICS, help="default: the task's (f1 for NER)")
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from cotune.artifact import load_artifact
    from cotune.config.schema import DataConfig
    from cotune.data.load import load_splits

    pa, pb = load_artifact(args.a), load_artifact(args.b)
    data_a, data_b = pa.meta.config["data"], pb.meta.config["data"]
    if data_a != data_b:
        sys.exit(
            f"error: {args.a} was trained on {data_a} but {args.b} on {data_b}: a paired test "
            "needs both to record the same data and split (compare runs of one data config)"
        )
    splits, _ = load_splits(DataConfig(**data_a))
    examples = list(getattr(splits, args.split))
    pred_a, pred_b = pa.predict(examples), pb.predict(examples)
    task_metrics = {"a": pa.task.metrics(pred_a, examples), "b": pa.task.metrics(pred_b, examples)}
    key = args.metric or next((m for m in METRICS if m in task_metrics["a"]), "")
    counts = {}
    for name, preds in (("a", pred_a), ("b", pred_b)):
        counts[name] = example_counts(key, preds, examples)
        reference = float(task_metrics[name][key])
        mine = float(metric_from_sums(key, counts[name].sum(axis=0)))
        if abs(mine - reference) > 1e-9:  # the counts must score exactly as the task does
            raise SystemExit(f"error: {key} from counts {mine} != the task's {reference} ({name})")
    result = {
        "artifact_a": str(args.a),
        "artifact_b": str(args.b),
        "split": args.split,
        "metric": key,
        "command": "python " + " ".join(sys.argv),
        **paired_bootstrap(key, counts["a"], counts["b"], args.samples, args.seed),
    }
    lo, hi = result["ci95"]
    print(
        f"{args.split} {key}: A {100 * result['a']:.2f}  B {100 * result['b']:.2f}  "
        f"A-B {100 * result['diff']:+.2f}  95% CI [{100 * lo:+.2f}, {100 * hi:+.2f}]  "
        f"P(A not better) {result['p_a_not_better']:.3f}  ({result['examples']} examples, "
        f"{result['samples']} resamples)"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
