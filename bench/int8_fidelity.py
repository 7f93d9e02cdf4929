"""How far int8 logits land from fp32 ones, per smoothing strength and scope, with exact int8
products (as a VNNI CPU computes them) and with this CPU's own kernels.

For each artifact: the fp32 ONNX graph's logits on the dev split are the reference. Every
variant quantizes every Linear layer to int8 (per-channel weights, as `cotune export`), its
inputs smoothed per channel (export/smooth.py) with one alpha and over one scope:

    all          every Linear input (what `cotune export`'s smoothed rung does)
    layer0       only encoder layer 0's inputs
    no-ffn-out   all but the FFN output layers' inputs (the GELU outputs: 4 of the 7 units of
                 Mul work per layer, the ones that cannot be folded into a weight)

plus the unsmoothed graph. Each graph is run twice: rewritten to exact int8 products
(export/exact_int8.py), and as is with this CPU's onnxruntime kernels, which on x86 without VNNI
saturate some products. Reported: mean squared difference of the logits (real tokens only, for
NER) and the share of decisions (argmax) that agree with fp32. The maxima that set the scales
come from 256 train sentences, as `cotune export` calibrates them; dev stays the measurement's.

    python bench/int8_fidelity.py runs/wnut16-ner runs/rt-polarity

Writes bench/results/int8_fidelity.json (another --out for other machines) and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from cotune.artifact import load_artifact
from cotune.export.exact_int8 import int8_kernels_saturate
from cotune.export.gate import artifact_splits, dev_examples
from cotune.export.onnx import OnnxLogits, encoder_layer_of, quantize_int8
from cotune.export.pipeline import calibrate_smoothing, export_artifact
from cotune.export.runtime import numpy_batches, onnx_file
from cotune.export.smooth import DEFAULT_ALPHA, Smoothing, smooth, weighted_matmuls

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

RESULTS = Path(__file__).parent / "results"
BATCH = 32

# scope name -> which Linear (MatMul) nodes get their input smoothed
SCOPES: dict[str, Callable[[str], bool]] = {
    "all": lambda name: True,
    "layer0": lambda name: encoder_layer_of(name) == 0,
    "no-ffn-out": lambda name: not ("/output/dense/" in name and "attention" not in name),
}


def logits(
    graph: Path, batches: list[dict[str, np.ndarray]], exact: bool = False
) -> list[np.ndarray]:
    run = OnnxLogits(graph, exact_int8=exact)
    return [run(b["input_ids"], b["attention_mask"], b.get("token_type_ids")) for b in batches]


def compare(
    got: list[np.ndarray], want: list[np.ndarray], batches: list[dict[str, np.ndarray]]
) -> dict[str, float]:
    """MSE over real positions (every sentence, for sentence classifiers) and argmax agreement."""
    diffs, agree = [], []
    for g, w, b in zip(got, want, batches, strict=True):
        real = b["attention_mask"].astype(bool) if g.ndim == 3 else np.ones(len(g), bool)
        diffs.append((g[real] - w[real]).ravel())
        agree.append(g[real].argmax(-1) == w[real].argmax(-1))
    return {
        "mse": float(np.mean(np.concatenate(diffs) ** 2)),
        "agreement": float(np.mean(np.concatenate(agree))),
    }


def variant_graph(
    fp32: Path, out: Path, smoothing: Smoothing | None, scope: str
) -> tuple[Path, int]:
    """Every Linear int8, inputs of `scope` smoothed first; returns the graph and its Mul count."""
    proto = onnx.load(str(fp32))
    if smoothing is not None:
        inside = SCOPES[scope]
        skip = [n.name for n in weighted_matmuls(proto) if not inside(n.name)]
        proto = smooth(proto, smoothing, skip=skip)
    muls = sum(1 for n in proto.graph.node if n.name.endswith("/Smooth"))
    smoothed = out.with_suffix(".smoothed.onnx")
    onnx.save(proto, str(smoothed))
    return quantize_int8(smoothed, out, fp32_layers=()), muls


def measure(folder: Path, alphas: list[float], scopes: list[str]) -> list[dict[str, Any]]:
    if not onnx_file(folder, int8=False).exists():
        export_artifact(folder)
    fp32 = onnx_file(folder, int8=False)
    predictor = load_artifact(folder)
    splits = artifact_splits(predictor)
    batches = numpy_batches(predictor.task, dev_examples(predictor, splits), BATCH)
    want = logits(fp32, batches)
    calibrated = calibrate_smoothing(predictor, fp32, list(splits.train))
    variants: list[tuple[float | None, str]] = [(None, "-")]
    variants += [(a, "all") for a in alphas]
    variants += [(DEFAULT_ALPHA, s) for s in scopes if s != "all"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for alpha, scope in variants:
            smoothing = None if alpha is None else dataclasses.replace(calibrated, alpha=alpha)
            graph, muls = variant_graph(fp32, Path(tmp) / "int8.onnx", smoothing, scope)
            row: dict[str, Any] = {
                "artifact": folder.name,
                "alpha": alpha,
                "scope": scope,
                "smooth_muls": muls,
            }
            for kernels in ("exact", "cpu"):
                got = logits(graph, batches, exact=kernels == "exact")
                for k, v in compare(got, want, batches).items():
                    row[f"{k}_{kernels}"] = v
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| artifact | alpha | scope | Muls | MSE exact | agree exact | MSE this CPU "
        "| agree this CPU |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        alpha = "none" if r["alpha"] is None else f"{r['alpha']:g}"
        lines.append(
            f"| {r['artifact']} | {alpha} | {r['scope']} | {r['smooth_muls']} "
            f"| {r['mse_exact']:.4f} | {100 * r['agreement_exact']:.2f}% "
            f"| {r['mse_cpu']:.4f} | {100 * r['agreement_cpu']:.2f}% |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifacts", nargs="+", type=Path)
    ap.add_argument("--alphas", default="0.5,0.75,0.8,0.85", help="Comma-separated, scope all.")
    ap.add_argument(
        "--scopes",
        default="all,layer0,no-ffn-out",
        help=f"Comma-separated, at alpha {DEFAULT_ALPHA}: {', '.join(SCOPES)}.",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "int8_fidelity.json")
    args = ap.parse_args()
    scopes = args.scopes.split(",")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        ap.error(f"unknown --scopes {', '.join(unknown)}: use some of {', '.join(SCOPES)}")
    alphas = [float(a) for a in args.alphas.split(",")]
    rows = [r for a in args.artifacts for r in measure(a, alphas, scopes)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))
    print(f"this CPU's int8 kernels saturate: {int8_kernels_saturate()}")
    print(table(rows))


if __name__ == "__main__":
    main()
