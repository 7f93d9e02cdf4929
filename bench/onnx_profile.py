"""Where an artifact's ONNX fp32 and int8 graphs spend their time, by operator type.

Issue 4 asks int8 for 2x PyTorch fp32 at batch 32; `bench/onnx_speed.py` measures the ratio,
this bench explains it. Both graphs run the artifact's dev split in batches of `--batch`
(sorted by length, as `task.predict` batches, padded to the longest in each batch) on one
thread with ONNX Runtime's profiler on; the per-node events are summed by operator type and
grouped into:

* weighted products: MatMul and Gemm with a stored weight, and int8's MatMulIntegerToFloat /
  DynamicQuantizeMatMul, which quantize their input inside the kernel (what int8 speeds up);
* int8 conversions: stand-alone DynamicQuantizeLinear (one shared by Q, K and V) and casts;
* the rest: attention's activation-by-activation products, softmax, LayerNorm, GELU, adds,
  reshapes, fp32 in both graphs.

The rest bounds the speed-up: with every weighted product free, int8 could at most reach
fp32 total / rest.

    python bench/onnx_profile.py runs/wnut16-ner runs/rt-polarity
    python bench/onnx_profile.py runs/wnut16-ner --limit 64 --out /tmp/profile_smoke

Writes bench/results/onnx_profile.json and .md (a different --out for smoke runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from cotune.artifact import load_artifact
from cotune.export.gate import dev_examples
from cotune.export.pipeline import export_artifact
from cotune.export.runtime import numpy_batches, onnx_file

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

RESULTS = Path(__file__).parent / "results"
# after ONNX Runtime's load-time fusions; FusedMatMul is attention's scaled Q.K^T (no weight)
WEIGHTED = {"MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}
CONVERSIONS = {"DynamicQuantizeLinear", "Cast", "DequantizeLinear", "QuantizeLinear"}


def weighted_matmuls(path: Path) -> set[str]:
    """Names of the MatMul/Gemm nodes of `path` whose second input is a stored weight."""
    model = onnx.load(str(path), load_external_data=False)
    weights = {t.name for t in model.graph.initializer}
    return {
        n.name
        for n in model.graph.node
        if n.op_type in ("MatMul", "Gemm") and len(n.input) > 1 and n.input[1] in weights
    }


def batches(predictor: Any, examples: list[Any], size: int) -> list[dict[str, np.ndarray]]:
    """The examples as `task.predict` feeds them, with zero segment ids where the task's collate
    gives none (as OnnxLogits feeds them)."""
    out = numpy_batches(predictor.task, examples, size)
    for batch in out:
        batch.setdefault("token_type_ids", np.zeros_like(batch["input_ids"]))
    return out


def profile(path: Path, feeds: list[dict[str, np.ndarray]], repeat: int) -> dict[str, Any]:
    """Run every batch `repeat` times with the profiler on; the first pass over the batches is
    a warm-up (weight pre-packing, allocations) and its events are left out."""
    import onnxruntime as ort

    weighted = weighted_matmuls(path)
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        for _ in range(1 + repeat):
            for f in feeds:
                session.run(None, {k: v for k, v in f.items() if k in names})
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = sorted(e["ts"] + e["dur"] for e in events if e.get("name") == "model_run")
    warm_end = runs[len(feeds) - 1]  # the end of the warm-up pass's last run
    events = [e for e in events if e.get("ts", 0) > warm_end]
    by_op: dict[str, float] = defaultdict(float)
    groups: dict[str, float] = defaultdict(float)
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        op = e["args"]["op_name"]
        node = e["name"].removesuffix("_kernel_time")
        us = float(e["dur"])
        by_op[op] += us
        if op in WEIGHTED:
            groups["weighted products, int8"] += us
        elif op in ("MatMul", "Gemm") and node in weighted:
            groups["weighted products, fp32"] += us
        elif op in CONVERSIONS:
            groups["int8 conversions"] += us
        else:
            groups["rest (fp32 in both)"] += us
    total = sum(by_op.values())
    return {
        "total_ms": round(total / 1000 / repeat, 2),
        "groups_pct": {k: round(100 * v / total, 1) for k, v in sorted(groups.items())},
        "ops_pct": {
            k: round(100 * v / total, 1) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])
        },
    }


def measure(folder: Path, batch: int, limit: int | None, repeat: int) -> dict[str, Any]:
    if not onnx_file(folder, int8=True).exists():
        export_artifact(folder, quantize="int8", force=True)
    predictor = load_artifact(folder)
    examples = dev_examples(predictor)[:limit] if limit else dev_examples(predictor)
    feeds = batches(predictor, examples, batch)
    graphs = {
        precision: profile(onnx_file(folder, int8=precision == "int8"), feeds, repeat)
        for precision in ("fp32", "int8")
    }

    def ms(graph: str, group: str) -> float:
        g = graphs[graph]
        return float(g["total_ms"]) * g["groups_pct"].get(group, 0.0) / 100

    fp32_total, int8_total = graphs["fp32"]["total_ms"], graphs["int8"]["total_ms"]
    rest = ms("int8", "rest (fp32 in both)")
    int8_products = ms("int8", "weighted products, int8")
    # the fp32 time of the products int8 replaced: all of fp32's, less those int8 kept in fp32
    replaced = ms("fp32", "weighted products, fp32") - ms("int8", "weighted products, fp32")
    return {
        "artifact": str(folder),
        "examples": len(examples),
        "batch": batch,
        "graphs": graphs,
        "int8_vs_fp32_onnx": round(fp32_total / int8_total, 2),
        "int8_kernel_vs_fp32_kernel": round(replaced / int8_products, 2) if int8_products else None,
        "bound_vs_fp32_onnx": round(fp32_total / rest, 2) if rest else None,
        "machine": machine(),
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "# ONNX Runtime time by operator group (1 thread, profiler on)",
        "",
        "| artifact | graph | ms per dev pass | weighted products int8 % | fp32 % "
        "| int8 conversions % | rest % | top operators |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        for precision, g in r["graphs"].items():
            p = g["groups_pct"]
            top = ", ".join(f"{k} {v}" for k, v in list(g["ops_pct"].items())[:5])
            lines.append(
                f"| {Path(r['artifact']).name} (batch {r['batch']}) | {precision} | "
                f"{g['total_ms']:.0f} | {p.get('weighted products, int8', 0)} | "
                f"{p.get('weighted products, fp32', 0)} | {p.get('int8 conversions', 0)} | "
                f"{p.get('rest (fp32 in both)', 0)} | {top} |"
            )
    lines.append("")
    for r in results:
        lines.append(
            f"- {Path(r['artifact']).name}: int8 runs {r['int8_vs_fp32_onnx']}x ONNX fp32; its "
            f"int8 products run {r['int8_kernel_vs_fp32_kernel']}x the fp32 products they "
            f"replace; with every weighted product free it could reach "
            f"{r['bound_vs_fp32_onnx']}x."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifacts", nargs="+", type=Path)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--limit", type=int, default=None, help="dev examples (smoke runs)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "onnx_profile")
    args = ap.parse_args()
    results = [measure(f, args.batch, args.limit, args.repeat) for f in args.artifacts]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    args.out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
