"""Which Linear layers to keep in fp32 so int8 keeps the artifact's quality, and at what speed.

For each artifact: PyTorch fp32 once, then int8 dynamic quantization (per-channel, as
`cotune export --quantize int8`) with a different set of MatMuls left in fp32 per variant:
none, the FFN output layers, the head, both, the last encoder layer, the first, first + last;
then none and the first again with the Linear inputs smoothed per channel (`--smooth-alpha`,
export/smooth.py, calibrated on the train split as `cotune export` does).
Each variant is scored on the dev split (`--split test` for the unbiased figure; drop in points
vs PyTorch on the same split) and timed at batch 32 on one thread (`bench/onnx_speed.py`'s
timer). This chose `quantize_int8`'s default `fp32_layers=(0,)` and the rungs of `cotune
export`'s int8 ladder (docs/benchmarks.md, sections 7b, 7d, 7e).

    python bench/int8_variants.py runs/wnut16-ner runs/rt-polarity
    python bench/int8_variants.py runs/wnut16-ner --split test --repeat 1
    python bench/int8_variants.py runs/wnut16-ner --only all,all+smooth --repeat 5   # its cost

Writes bench/results/int8_variants.json (another --out for other machines). The artifacts'
onnx/model.int8.onnx is left as the last variant's: re-run `cotune export` afterwards.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import onnx
import torch

from cotune.artifact import load_artifact
from cotune.export.gate import artifact_splits, dev_examples
from cotune.export.onnx import encoder_layer_of, fp32_layer_matmuls, quantize_int8
from cotune.export.pipeline import calibrate_smoothing, export_artifact
from cotune.export.runtime import load_onnx_predictor, onnx_file
from cotune.export.smooth import DEFAULT_ALPHA

sys.path.insert(0, str(Path(__file__).parent))
from onnx_speed import words_per_second

RESULTS = Path(__file__).parent / "results"


def variants(fp32: Path) -> dict[str, list[str]]:
    """Variant name -> MatMul nodes kept in fp32."""
    proto = onnx.load(str(fp32))
    matmuls = [n.name for n in proto.graph.node if n.op_type == "MatMul"]
    layers = sorted({i for i in map(encoder_layer_of, matmuls) if i is not None})
    first, last = fp32_layer_matmuls(proto, (layers[0],)), fp32_layer_matmuls(proto, (layers[-1],))
    ffn_out = [n for n in matmuls if "/output/dense/" in n and "attention" not in n]
    head = [n for n in matmuls if "classifier" in n]
    return {
        "all": [],
        "ffn-out": ffn_out,
        "head": head,
        "ffn-out+head": ffn_out + head,
        "last-layer": last,
        "first-layer": first,
        "first+last": first + last,
    }


def measure(
    folder: Path, repeat: int, alpha: float, split: str, only: list[str] | None = None
) -> list[dict[str, Any]]:
    if not onnx_file(folder, int8=False).exists():
        export_artifact(folder, quantize="int8", force=True)
    fp32 = onnx_file(folder, int8=False)
    predictor = load_artifact(folder)
    splits = artifact_splits(predictor)
    examples = dev_examples(predictor, splits) if split == "dev" else list(splits.test)
    smoothing = calibrate_smoothing(predictor, fp32, list(splits.train), alpha)
    plain = variants(fp32)
    tried = [(name, keep, None) for name, keep in plain.items()] + [
        (f"{name}+smooth", plain[name], smoothing) for name in ("all", "first-layer")
    ]
    tried = [t for t in tried if only is None or t[0] in only]
    metric = json.loads((folder / "metrics.json").read_text())["training"]["metric"]
    base = float(predictor.evaluate(examples)[metric])
    base_wps = words_per_second(predictor, examples, 32, repeat)
    rows = [
        {
            "artifact": folder.name,
            "split": split,
            "variant": "pytorch-fp32",
            metric: base,
            "wps_b32": base_wps,
        }
    ]
    for name, keep, smooth in tried:
        quantize_int8(fp32, onnx_file(folder, int8=True), fp32_nodes=keep, smoothing=smooth)
        onnx_predictor = load_onnx_predictor(folder, int8=True)
        value = float(onnx_predictor.evaluate(examples)[metric])
        wps = words_per_second(onnx_predictor, examples, 32, repeat)
        rows.append(
            {
                "artifact": folder.name,
                "split": split,
                "variant": name,
                "excluded": len(keep),
                metric: value,
                "drop_points": round(100 * (base - value), 2),
                "wps_b32": wps,
                "x_pytorch": round(wps / base_wps, 2),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifacts", nargs="+", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--smooth-alpha", type=float, default=DEFAULT_ALPHA)
    ap.add_argument("--split", choices=["dev", "test"], default="dev", help="Scored on this split.")
    ap.add_argument("--only", help="Comma-separated variant names (default: all of them).")
    ap.add_argument("--out", type=Path, default=RESULTS / "int8_variants.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    only = args.only.split(",") if args.only else None
    rows = [
        r
        for a in args.artifacts
        for r in measure(a, args.repeat, args.smooth_alpha, args.split, only)
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
