"""`cotune export ARTIFACT --format onnx [--quantize int8]`"""

from __future__ import annotations

from pathlib import Path

import typer

from cotune.cli.common import console, print_json, reports_errors
from cotune.cli.options import build, option
from cotune.export.options import ExportOptions

HELP = """Export an artifact to ONNX (optionally int8), behind a parity check and a quality gate.

Each graph is evaluated on the artifact's dev split; if it scores more than --max-drop points
(F1 / accuracy) below the PyTorch model, nothing is written and the command fails (--force
writes it anyway and records the drop in the model card). Graphs go to ARTIFACT/onnx/. int8
tries, fastest first, all-int8, then smoothed inputs, then the first layer in fp32, and writes
the first graph that passes; every try is printed and recorded. --int8-kernels exact gates with
the exact int8 products of VNNI/AMX/Arm CPUs instead of this CPU's (docs/benchmarks.md, 7f-7h).

\b
  cotune export runs/wnut16-full --format onnx
  cotune export runs/wnut16-full --format onnx --quantize int8 --max-drop 0.5
  cotune export runs/wnut16-full --format onnx --quantize int8 --smooth-alpha 0
  cotune export runs/wnut16-full --format onnx --quantize int8 --int8-kernels exact
"""


@reports_errors
def export(
    artifact: Path = typer.Argument(..., help="Artifact folder."),
    fmt: str = option(ExportOptions, "format"),
    quantize: str = option(ExportOptions, "quantize"),
    max_drop: float = option(ExportOptions, "max_drop"),
    force: bool = option(ExportOptions, "force"),
    opset: int = option(ExportOptions, "opset"),
    smooth_alpha: float = option(ExportOptions, "smooth_alpha"),
    int8_kernels: str = option(ExportOptions, "int8_kernels"),
    batch_size: int = option(ExportOptions, "batch_size"),
    device: str = option(ExportOptions, "device"),
) -> None:
    from cotune.export.exact_int8 import int8_kernels_saturate
    from cotune.export.pipeline import export_artifact

    options = build(
        ExportOptions,
        {
            "format": fmt,
            "quantize": quantize,
            "max_drop": max_drop,
            "force": force,
            "opset": opset,
            "smooth_alpha": smooth_alpha,
            "int8_kernels": int8_kernels,
            "batch_size": batch_size,
            "device": device,
        },
        "export",
    )
    report = export_artifact(artifact, options)
    print_json(report.to_dict())
    for g in report.gates:
        if not g.passed:
            console.print(f"[yellow]warning (forced):[/] {g.message()}")
    if options.quantize and options.int8_kernels == "cpu" and int8_kernels_saturate():
        console.print(
            "note: this CPU's int8 kernels saturate some products (no VNNI), and the gate ran "
            "them; for a server with VNNI, AMX or Arm dot-product instructions, check with "
            "--int8-kernels exact"
        )
    console.print(f"written: {', '.join(str(f) for f in report.files)}")
