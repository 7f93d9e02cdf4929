"""`cotune train CONFIG [--section.key VALUE ...]`"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cotune.cli.common import console, progress_enabled, reports_errors

HELP = """Fine-tune a backbone as the YAML run config says; write the artifact folder.

Any config key can be overridden with a dotted flag (YAML key = flag = attribute):

\b
  cotune train configs/wnut16-ner.yaml
  cotune train configs/wnut16-ner.yaml --train.lr 3e-5 --train.epochs 3
  cotune train configs/rt-polarity.yaml --method.name lora --method.r 8
  cotune train configs/wnut16-ner.yaml --resume     # continue after a kill
"""


@reports_errors
def train(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from cotune.config import load_config, parse_overrides
    from cotune.recipes.finetune import finetune

    cfg = load_config(config, parse_overrides(ctx.args))
    out = finetune(cfg, resume=resume, overwrite=overwrite, progress=progress_enabled(quiet))
    metrics = json.loads((out / "metrics.json").read_text())
    _summary(metrics)
    console.print(f"model written to [bold]{out}[/]")


def _summary(metrics: dict) -> None:
    tr = metrics["training"]
    for split in ("dev", "test"):
        m = metrics.get(split) or {}
        scalars = {k: round(v, 4) for k, v in m.items() if isinstance(v, float)}
        if scalars:
            console.print(f"{split}: {scalars}")
    console.print(
        f"trained {tr['steps']} steps ({tr['epochs']} epochs) in {tr['train_seconds']:.1f}s, "
        f"{tr['words_per_s']:.0f} words/s; trainable {tr['trainable_pct']:.2f}% of "
        f"{tr['params_total']:,} params"
    )
