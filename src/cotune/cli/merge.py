"""`cotune merge ARTIFACT`"""

from __future__ import annotations

from pathlib import Path

import typer

from cotune.cli.common import console, reports_errors

HELP = """Fold an adapter artifact into a plain Hugging Face model folder.

The result loads with transformers alone (AutoModelFor*.from_pretrained) and with cotune. It is
checked against the adapter on a probe batch before it is written. Prefix tuning, and bottleneck
adapters with a nonlinear activation, cannot be folded exactly: merge refuses and says why.

\b
  cotune merge runs/wnut16-lora                  # writes runs/wnut16-lora-merged
  cotune merge runs/wnut16-lora -o models/ner --overwrite
"""


@reports_errors
def merge(
    artifact: Path = typer.Argument(..., help="Artifact folder of an adapter run."),
    output: Path = typer.Option(None, "--output", "-o", help="Folder (default: ARTIFACT-merged)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --output."),
) -> None:
    from cotune.uses.merge import merge_artifact

    result = merge_artifact(artifact, output, overwrite=overwrite)
    console.print(
        f"merged {result.method} model written to {result.folder} (max |logit difference| "
        f"to the adapter on a probe batch: {result.max_abs_diff:.1e})"
    )
