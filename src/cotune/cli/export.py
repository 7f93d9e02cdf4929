"""`cotune export ARTIFACT --format onnx [--quantize int8]`"""

from __future__ import annotations

from pathlib import Path

import typer

from cotune.cli.common import console, print_json, reports_errors

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
    fmt: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    quantize: str = typer.Option(None, "--quantize", help="int8: also write a quantized graph."),
    max_drop: float = typer.Option(1.0, "--max-drop", help="Largest dev drop allowed, in points."),
    force: bool = typer.Option(False, "--force", help="Write even if the gate refuses."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset."),
    smooth_alpha: float = typer.Option(
        0.8,
        "--smooth-alpha",
        help="int8: SmoothQuant strength for the smoothed rungs; 0 leaves smoothing out.",
    ),
    int8_kernels: str = typer.Option(
        "cpu",
        "--int8-kernels",
        help="int8: the products the gate runs, this CPU's kernels (cpu) or exact ones (exact).",
    ),
) -> None:
    from cotune.errors import ConfigError
    from cotune.export.exact_int8 import int8_kernels as check_kernels
    from cotune.export.exact_int8 import int8_kernels_saturate
    from cotune.export.pipeline import export_artifact

    if fmt != "onnx":
        raise ConfigError(f"unknown --format {fmt!r}", fix="use --format onnx")
    if quantize not in (None, "int8"):
        raise ConfigError(f"unknown --quantize {quantize!r}", fix="use --quantize int8")
    if not 0.0 <= smooth_alpha <= 1.0:
        raise ConfigError(
            f"--smooth-alpha {smooth_alpha:g} is outside [0, 1]",
            fix="use a value in (0, 1] (0.8 is the measured default), or 0 to turn smoothing off",
        )
    kernels = check_kernels(int8_kernels)
    report = export_artifact(
        artifact,
        quantize="int8" if quantize else None,
        max_drop=max_drop,
        force=force,
        opset=opset,
        smooth_alpha=smooth_alpha,
        int8_kernels=kernels,
    )
    print_json(report.to_dict())
    for g in report.gates:
        if not g.passed:
            console.print(f"[yellow]warning (forced):[/] {g.message()}")
    if quantize and kernels == "cpu" and int8_kernels_saturate():
        console.print(
            "note: this CPU's int8 kernels saturate some products (no VNNI), and the gate ran "
            "them; for a server with VNNI, AMX or Arm dot-product instructions, check with "
            "--int8-kernels exact"
        )
    console.print(f"written: {', '.join(str(f) for f in report.files)}")
