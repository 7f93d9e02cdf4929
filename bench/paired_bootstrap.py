"""Paired bootstrap: how sure is "artifact A scores more than artifact B" on one evaluation set?

Both artifacts predict the same examples of the split their runs recorded (they must record the
same data); the examples are then resampled with replacement `--samples` times and the metric of
each artifact recomputed on every resample (entity F1 is not a mean over sentences, so it is
recomputed, not averaged). Prints both metrics, the difference A - B, its 95% percentile
interval, and the share of resamples in which A does not beat B (a one-sided p-value).

    python bench/paired_bootstrap.py runs/a runs/b                 # test split, 2,000 resamples
    python bench/paired_bootstrap.py runs/a runs/b --split dev --out /tmp/ab.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path
from typing import Any


def paired_bootstrap(
    metric_of: Any,
    pred_a: list[Any],
    pred_b: list[Any],
    examples: list[Any],
    samples: int,
    seed: int,
) -> dict[str, Any]:
    """`metric_of(predictions, examples)` -> float, on the full set and on each resample."""
    rng = random.Random(seed)
    n = len(examples)
    full_a, full_b = metric_of(pred_a, examples), metric_of(pred_b, examples)
    diffs = []
    for _ in range(samples):
        idx = [rng.randrange(n) for _ in range(n)]
        ex = [examples[i] for i in idx]
        diffs.append(
            metric_of([pred_a[i] for i in idx], ex) - metric_of([pred_b[i] for i in idx], ex)
        )
    diffs.sort()
    return {
        "a": full_a,
        "b": full_b,
        "diff": full_a - full_b,
        "ci95": [diffs[int(0.025 * samples)], diffs[min(samples - 1, int(0.975 * samples))]],
        "p_a_not_better": sum(d <= 0 for d in diffs) / samples,
        "samples": samples,
        "examples": n,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--split", default="test", choices=["dev", "test"])
    ap.add_argument("--metric", help="metric key (default: f1 for NER, accuracy otherwise)")
    ap.add_argument("--samples", type=int, default=2000)
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
    key = args.metric or ("f1" if "f1" in pa.task.metrics(pred_a, examples) else "accuracy")

    def metric_of(preds: list[Any], exs: list[Any]) -> float:
        return float(pa.task.metrics(preds, exs)[key])

    result = {
        "artifact_a": str(args.a),
        "artifact_b": str(args.b),
        "split": args.split,
        "metric": key,
        "command": "python " + " ".join(sys.argv),
        **paired_bootstrap(metric_of, pred_a, pred_b, examples, args.samples, args.seed),
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
