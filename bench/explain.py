"""Explanation benchmark: how faithful, and how costly, is each attribution method?

On the test split of rt-polarity (sentence polarity) and WNUT-16 (NER), with the shared
artifacts `runs/rt-polarity` and `runs/wnut16-ner`, a seeded subsample of test texts is explained
by every method (ig, grad-x-input, occlusion, attention, random). Targets: the predicted label of
each text; each predicted entity of each sentence (NER). For every target, ERASER
comprehensiveness and sufficiency (AOPC over removing the top 1, 5, 10, 20, 50% of the words),
raw and normalised by the null difference (cotune.explain.faithfulness), and the seconds the
attribution took. The random ranking is the floor: the target is integrated gradients'
comprehensiveness >= 2x random's on both tasks, with a paired bootstrap interval of the ratio
(the same resampled targets for both methods).

Writes bench/results/explain.json and bench/results/explain.md.

    nice -n 10 .venv/bin/python bench/explain.py --n-cls 150 --n-ner 240
    .venv/bin/python bench/explain.py --cls /tmp/tiny-cls --ner /tmp/tiny-ner --n-cls 5   # smoke
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

METHODS = ("ig", "grad-x-input", "occlusion", "attention", "random")
KEYS = (
    "comprehensiveness",
    "sufficiency",
    "normalised_comprehensiveness",
    "normalised_sufficiency",
)


def run_task(folder: Path, n: int, steps: int, seed: int) -> dict[str, Any]:
    from cotune.explain import Explainer, Options, load_explainable
    from cotune.explain.faithfulness import summarise
    from cotune.explain.global_explain import load_examples

    predictor = load_explainable(folder)
    name, examples = load_examples(predictor, None, "test")
    picked = sorted(random.Random(seed).sample(range(len(examples)), min(n, len(examples))))
    examples = [examples[i] for i in picked]
    base = Explainer(predictor, "ig", Options(steps=steps))
    if base.ner:
        layouts = base.token_layouts([ex.tokens for ex in examples if ex.tokens])
    else:
        layouts = base.layouts([ex.text for ex in examples])
    n_targets = sum(len(lay.targets) for lay in layouts)
    out: dict[str, Any] = {
        "artifact": str(folder),
        "data": name,
        "texts": len(layouts),
        "texts_with_targets": sum(1 for lay in layouts if lay.targets),
        "targets": n_targets,
        "words_per_text": float(np.mean([len(lay.spans) for lay in layouts])),
        "methods": {},
    }
    per_target: dict[str, list[Any]] = {}
    for method in METHODS:
        explainer = Explainer(predictor, method, Options(steps=steps, seed=seed))
        records, seconds, deltas, skipped = [], 0.0, [], 0
        warm = next((lay for lay in layouts if lay.targets), None)
        if warm is not None:  # lazy imports and first-call allocations are not per-text cost
            explainer.attribute(warm, *warm.targets[0])
        for lay in layouts:
            for windows, target in lay.targets:
                start = time.perf_counter()
                result = explainer.attribute(lay, windows, target)
                seconds += time.perf_counter() - start
                record = explainer.faithfulness(lay, windows, target, result.scores)
                if record is None:  # a text read as several windows: no removal curve
                    skipped += 1
                    continue
                records.append(record)
                if result.delta is not None and result.logit is not None:
                    gap = abs(result.logit - (result.baseline_logit or 0.0))
                    deltas.append(abs(result.delta) / gap if gap > 1e-6 else 0.0)
        summary = summarise(records)
        summary["multi_window_targets_skipped"] = skipped
        summary["seconds_per_text"] = seconds / max(1, len(layouts))
        summary["seconds_per_target"] = seconds / max(1, n_targets)
        if deltas:
            summary["relative_delta_median"] = float(np.median(deltas))
            summary["relative_delta_within_5pct"] = float(np.mean(np.array(deltas) <= 0.05))
        out["methods"][method] = summary
        per_target[method] = records
        print(f"  {method:13s} {json.dumps({k: _r(v) for k, v in summary.items()})}", flush=True)
    out["ig_vs_random"] = ratio_interval(per_target["ig"], per_target["random"], seed)
    return out


def ratio_interval(a: list[Any], b: list[Any], seed: int, samples: int = 2000) -> dict[str, Any]:
    """mean comprehensiveness of a over b's, with a 95% paired-bootstrap percentile interval."""
    x = np.array([r.comprehensiveness for r in a])
    y = np.array([r.comprehensiveness for r in b])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(samples, len(x)))
    ratios = x[idx].mean(axis=1) / np.maximum(y[idx].mean(axis=1), 1e-12)
    return {
        "comprehensiveness_ratio": float(x.mean() / max(y.mean(), 1e-12)),
        "ci95": [float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))],
        "share_of_resamples_below_2x": float(np.mean(ratios < 2.0)),
    }


def _r(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else v


def markdown(results: dict[str, Any]) -> str:
    lines = []
    for task, res in results["tasks"].items():
        ratio = res["ig_vs_random"]
        lines += [
            f"**{task}** ({res['data']}, {res['texts']} test texts, {res['texts_with_targets']} "
            f"with a target, {res['targets']} targets, {res['words_per_text']:.1f} words/text)",
            "",
            "| method | comp. AOPC ↑ | suff. AOPC ↓ | norm. comp. ↑ | norm. suff. ↑ | s/text | "
            "IG |delta| ≤ 5% |",
            "|---|---|---|---|---|---|---|",
        ]
        for method, s in res["methods"].items():
            conv = s.get("relative_delta_within_5pct")
            lines.append(
                f"| {method} | {_f(s['comprehensiveness'])} ± {_f(s.get('comprehensiveness_se'))}"
                f" | {_f(s['sufficiency'])} | {_f(s['normalised_comprehensiveness'])} | "
                f"{_f(s['normalised_sufficiency'])} | {s['seconds_per_text']:.3f} | "
                f"{'' if conv is None else f'{conv:.0%}'} |"
            )
        lines += [
            "",
            f"IG / random comprehensiveness: {ratio['comprehensiveness_ratio']:.2f}x "
            f"(95% paired bootstrap {ratio['ci95'][0]:.2f}–{ratio['ci95'][1]:.2f}); normalised "
            "scores leave out targets whose prediction does not move with every word removed "
            f"({res['methods']['ig']['excluded_from_normalised']} of {res['targets']}).",
            "",
        ]
    return "\n".join(lines)


def _f(v: Any) -> str:
    return "" if v is None else f"{v:.3f}"


def main(argv: list[str] | None = None) -> None:
    import torch

    from machine import machine  # type: ignore[import-not-found]

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cls", type=Path, default=ROOT / "runs" / "rt-polarity")
    parser.add_argument("--ner", type=Path, default=ROOT / "runs" / "wnut16-ner")
    parser.add_argument("--n-cls", type=int, default=150, help="test texts (seeded sample)")
    parser.add_argument("--n-ner", type=int, default=240, help="test sentences (seeded sample)")
    parser.add_argument("--steps", type=int, default=50, help="ig integration steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=["rt-polarity", "wnut16"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "explain.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python bench/explain.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "threads": args.threads,
        "steps": args.steps,
        "seed": args.seed,
        "tasks": {},
    }
    for task, folder, n in (
        ("rt-polarity", args.cls, args.n_cls),
        ("wnut16", args.ner, args.n_ner),
    ):
        if task not in args.tasks:
            continue
        print(f"{task}: {folder}", flush=True)
        results["tasks"][task] = run_task(folder, n, args.steps, args.seed)
    results["wall_seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    table = markdown(results)
    args.out.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
