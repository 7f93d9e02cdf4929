"""`cotune evaluate MODEL --data NAME_OR_FILE`"""

from __future__ import annotations

from pathlib import Path

import typer

from cotune.cli.common import console, print_json, reports_errors

HELP = """Evaluate an artifact on a data set.

With a catalog name (or the data the model was trained on) the split recorded in the artifact is
rebuilt and --split picks its part; a file is evaluated whole.

\b
  cotune evaluate runs/wnut16-full --data wnut16 --split test
  cotune evaluate runs/wnut16-full --data my_ner.conll
  cotune evaluate runs/wnut16-full --onnx int8   # the graph `cotune export` wrote
  cotune evaluate runs/wnut16-full --onnx int8 --int8-kernels exact   # as a VNNI CPU runs it
  cotune evaluate runs/wnut16-full --device cuda   # on the GPU
"""


@reports_errors
def evaluate(
    model: Path = typer.Argument(..., help="Artifact folder."),
    data: str = typer.Option(None, "--data", help="Catalog name or file (default: training data)."),
    split: str = typer.Option("test", "--split", help="train, dev or test (catalog data)."),
    batch_size: int = typer.Option(64, "--batch-size"),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the metrics as JSON."),
    onnx: str = typer.Option(
        None, "--onnx", help="fp32 or int8: run the ONNX graph from `cotune export` instead."
    ),
    int8_kernels: str = typer.Option(
        "cpu",
        "--int8-kernels",
        help="With --onnx int8: this CPU's int8 kernels (cpu) or exact int8 products (exact).",
    ),
    repair_tags: bool = typer.Option(
        False, "--repair-tags", help="Read an I- tag that continues no entity as its start."
    ),
    device: str = typer.Option(
        "auto",
        "--device",
        help="auto, cpu or cuda: where the PyTorch model runs (auto: a GPU when one is visible).",
    ),
) -> None:
    from cotune.uses.evaluate import evaluate_artifact

    metrics = evaluate_artifact(
        model,
        data,
        split=split,
        batch_size=batch_size,
        onnx=onnx,
        int8_kernels=int8_kernels,
        repair_tags=repair_tags,
        device=device,
    )
    print_json(metrics)
    if output:
        import json

        from cotune.files import atomic_write_text

        atomic_write_text(output, json.dumps(metrics, indent=2))
        console.print(f"metrics written to {output}")
