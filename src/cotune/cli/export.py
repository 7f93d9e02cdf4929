"""`cotune export ARTIFACT --format onnx [--quantize int8]`"""

from __future__ import annotations

from pathlib import Path

import typer

from cotune.cli.common import console, print_json, reports_errors

HELP = """Export an artifact to ONNX (optionally int8), behind a parity check and a quality gate.

Each graph is evaluated on the artifact's dev split; if it scores more than --max-drop points
(F1 / accuracy) below the PyTorch model, nothing is written and the command fails. --force
writes it anyway and records the drop in the model card. Graphs go to ARTIFACT/onnx/.
int8 is dynamic quantization with per-channel weights. It tries every Linear layer in int8
first (fastest), then the first encoder layer kept in fp32, and writes the first graph that
passes the gate (which layer to keep depends on the weights and the CPU: docs/benchmarks.md,
sections 7b and 7d); every try is printed and recorded.

\b
  cotune export runs/wnut16-full --format onnx
  cotune export runs/wnut16-full --format onnx --quantize int8 --max-drop 0.5
"""


@reports_errors
def export(
    artifact: Path = typer.Argument(..., help="Artifact folder."),
    fmt: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    quantize: str = typer.Option(None, "--quantize", help="int8: also write a quantized graph."),
    max_drop: float = typer.Option(1.0, "--max-drop", help="Largest dev drop allowed, in points."),
    force: bool = typer.Option(False, "--force", help="Write even if the gate refuses."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset."),
) -> None:
    from cotune.errors import ConfigError
    from cotune.uses.export import export_artifact

    if fmt != "onnx":
        raise ConfigError(f"unknown --format {fmt!r}", fix="use --format onnx")
    if quantize not in (None, "int8"):
        raise ConfigError(f"unknown --quantize {quantize!r}", fix="use --quantize int8")
    report = export_artifact(
        artifact,
        quantize="int8" if quantize else None,
        max_drop=max_drop,
        force=force,
        opset=opset,
    )
    print_json(report.to_dict())
    for g in report.gates:
        if not g.passed:
            console.print(f"[yellow]warning (forced):[/] {g.message()}")
    console.print(f"written: {', '.join(str(f) for f in report.files)}")
