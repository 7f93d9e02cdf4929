"""`cotune train CONFIG [--section.key VALUE ...]`"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cotune.cli.common import console, print_json, progress_enabled, reports_errors
from cotune.cli.launch import is_worker, nproc_option, relaunch
from cotune.cli.metrics_table import breakdown_table, scores_table, training_line

HELP = """Fine-tune a backbone as the YAML run config says; write the artifact folder.

Any config key can be overridden with a dotted flag (YAML key = flag = attribute):

\b
  cotune train configs/wnut16-ner.yaml
  cotune train configs/wnut16-ner.yaml --train.lr 3e-5 --train.epochs 3
  cotune train configs/rt-polarity.yaml --method.name lora --method.r 8
  cotune train configs/wnut16-ner.yaml --resume     # continue after a kill
  cotune train configs/wnut16-ner.yaml --nproc 2    # data-parallel (torchrun)
  cotune train configs/rt-polarity.yaml --from runs/rt-polarity --data.source new.csv \
      --name rt-new --continual.penalty l2sp    # warm start, keep what it knew
  cotune train configs/rt-polarity.yaml --json > metrics.json   # scores for a script

Prints the dev and test scores as a table (and one per entity type or class); --json writes
the run's metrics.json to stdout instead.
"""


@reports_errors
def train(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    nproc: int = nproc_option(),
    parent: Path = typer.Option(
        None, "--from", help="Continue from this trained artifact (= --continual.parent)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the run's metrics.json to stdout instead of the tables."
    ),
) -> None:
    from cotune.config import load_config, parse_overrides
    from cotune.recipes.finetune import finetune

    overrides = parse_overrides(ctx.args)
    if parent is not None:  # warm start: docs/continual.md
        overrides["continual.parent"] = str(parent)
    cfg = load_config(config, overrides)
    relaunch(ctx, nproc)  # --nproc N: this command again, as N processes under torchrun
    out = finetune(cfg, resume=resume, overwrite=overwrite, progress=progress_enabled(quiet))
    if is_worker():  # under torchrun rank 0 reports
        return
    metrics = json.loads((out / "metrics.json").read_text())
    if as_json:
        print_json(metrics)
    else:
        print_summary(metrics)
    console.print(f"model written to [bold]{out}[/]")


def print_summary(metrics: dict) -> None:
    """Scores table, per-type/per-class table, then what the training cost (to stderr, like
    every human-facing line; stdout stays for --json)."""
    for table in (scores_table(metrics), breakdown_table(metrics)):
        if table is not None:
            console.print(table)
    console.print(training_line(metrics["training"]))
