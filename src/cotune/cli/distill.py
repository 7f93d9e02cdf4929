"""`cotune distill CONFIG [--section.key VALUE ...]`"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cotune.cli.common import console, progress_enabled, reports_errors
from cotune.cli.launch import is_worker, nproc_option, relaunch

HELP = """Train a smaller student from a fine-tuned teacher artifact (knowledge distillation).

The config is a run config (data, model, train) plus a `distill` section: the teacher artifact,
the student (`distill.layers`: the teacher cut down to those layers; otherwise `model.backbone`,
which must share the teacher's tokenizer), temperature, alpha (soft vs hard loss), hidden-state
alignment and optional FFN pruning. Any key can be overridden with a dotted flag.

\b
  cotune distill configs/distill/distill-wnut16.yaml
  cotune distill configs/distill/distill-rt-polarity.yaml --distill.temperature 4
  cotune distill configs/distill/distill-wnut16.yaml --nproc 2   # data-parallel (torchrun)
"""


@reports_errors
def distill(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Distillation config (YAML)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    nproc: int = nproc_option(),
) -> None:
    from cotune.cli.train import print_summary
    from cotune.config import parse_overrides
    from cotune.distill.config import DistillConfig
    from cotune.distill.load import load_distill_config
    from cotune.recipes.distill import distill as run

    cfg: DistillConfig = load_distill_config(config, parse_overrides(ctx.args))
    relaunch(ctx, nproc)  # --nproc N: this command again, as N processes under torchrun
    out = run(cfg, overwrite=overwrite, progress=progress_enabled(quiet))
    if is_worker():  # under torchrun rank 0 reports
        return
    metrics = json.loads((out / "metrics.json").read_text())
    d, metric = metrics["distill"], metrics["training"]["metric"]
    print_summary(metrics)
    console.print(
        f"student dev {metric} {metrics['dev'].get(metric, float('nan')):.4f}, teacher "
        f"{d['teacher_dev'] or float('nan'):.4f} (retention {d['retention_pct']}%); "
        f"{metrics['training']['params_total']:,} params vs {d['teacher_params']:,}"
    )
    console.print(f"student written to [bold]{out}[/]")
