"""PyTorch fp32 vs ONNX fp32 vs ONNX int8: inference words/s at batch 1 and 32, and dev metric.

All three run the same task code (`task.predict`: tokenization, windowing, decoding) on the same
fixed dev sentences, one thread each, so the only difference is the model runtime. The artifact
is exported first (gate forced: this bench reports the drop instead of refusing it).

    python bench/onnx_speed.py runs/wnut16-ner                       # full dev split
    python bench/onnx_speed.py runs/wnut16-ner --limit 64 --repeat 1 --out /tmp/onnx_smoke

Writes bench/results/onnx_speed.json and .md (a different --out for smoke runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from cotune.artifact import load_artifact
from cotune.data.examples import Example, TextExample, TokenExample
from cotune.export.gate import dev_examples
from cotune.export.pipeline import export_artifact
from cotune.export.runtime import load_onnx_predictor, onnx_file

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

RESULTS = Path(__file__).parent / "results"


def word_count(examples: list[Example]) -> int:
    total = 0
    for e in examples:
        if isinstance(e, TokenExample):
            total += len(e.tokens)
        elif isinstance(e, TextExample):
            total += len(e.text.split())
    return total


def words_per_second(
    predictor: Any, examples: list[Example], batch_size: int, repeat: int
) -> float:
    """Best of `repeat` timed passes after one warm-up pass (least disturbed by neighbours)."""
    predictor.predict(examples[: max(batch_size, 8)], batch_size)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        predictor.predict(examples, batch_size)
        best = min(best, time.perf_counter() - start)
    return word_count(examples) / best


def measure(folder: Path, limit: int | None, repeat: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    if not onnx_file(folder, int8=True).exists():
        export_artifact(folder, quantize="int8", force=True)
    torch_p = load_artifact(folder)
    examples = dev_examples(torch_p)[:limit] if limit else dev_examples(torch_p)
    metric = json.loads((folder / "metrics.json").read_text())["training"]["metric"]
    rows = []
    for name, predictor in (
        ("pytorch-fp32", torch_p),
        ("onnx-fp32", load_onnx_predictor(folder, int8=False)),
        ("onnx-int8", load_onnx_predictor(folder, int8=True)),
    ):
        rows.append(
            {
                "runtime": name,
                metric: round(float(predictor.evaluate(examples)[metric]), 4),
                "words_per_s_b1": round(words_per_second(predictor, examples, 1, repeat), 1),
                "words_per_s_b32": round(words_per_second(predictor, examples, 32, repeat), 1),
            }
        )
    base = rows[0]
    for r in rows:
        r["speedup_b32"] = round(r["words_per_s_b32"] / base["words_per_s_b32"], 2)
        r["drop_points"] = round(100 * (base[metric] - r[metric]), 2)
    return {
        "artifact": str(folder),
        "metric": metric,
        "examples": len(examples),
        "rows": rows,
        "machine": machine(),
    }


def markdown(result: dict[str, Any]) -> str:
    m = result["metric"]
    lines = [
        f"# ONNX speed: {result['artifact']} ({result['examples']} dev examples, 1 thread)",
        "",
        f"| runtime | dev {m} | drop (points) | words/s b1 | words/s b32 | speed-up b32 |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['runtime']} | {r[m]:.4f} | {r['drop_points']:.2f} | {r['words_per_s_b1']:.0f} "
            f"| {r['words_per_s_b32']:.0f} | {r['speedup_b32']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifacts", nargs="+", type=Path)
    ap.add_argument("--limit", type=int, default=None, help="Dev examples to time (default all).")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "onnx_speed")
    args = ap.parse_args()
    results = [measure(a, args.limit, args.repeat) for a in args.artifacts]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    args.out.with_suffix(".md").write_text("\n".join(markdown(r) for r in results))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
