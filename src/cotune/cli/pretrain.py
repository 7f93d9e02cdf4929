"""`cotune pretrain CONFIG [--section.key VALUE ...]`"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cotune.cli.common import console, progress_enabled, reports_errors
from cotune.cli.launch import is_worker, nproc_option, relaunch

HELP = """Continue masked-LM pre-training of a backbone on unlabelled text; write a backbone folder
that `model.backbone:` of any run config (and AutoModel.from_pretrained) accepts, with a card.

Text: catalog sources (their training split by default), .txt files (one text a line) or
folders of them. Whole words are masked together; Chinese characters in short runs. Same loop,
checkpoints, --resume, progress and tracking as `cotune train`.

\b
  cotune pretrain configs/pretrain/pretrain-zh.yaml
  cotune pretrain configs/pretrain/pretrain-zh.yaml --budget_minutes 30
  cotune pretrain configs/pretrain/pretrain-zh.yaml --resume     # continue after a kill
  cotune pretrain configs/pretrain/pretrain-zh.yaml --nproc 2    # data-parallel (torchrun)
"""


@reports_errors
def pretrain(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Pre-training config (YAML)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    nproc: int = nproc_option(),
) -> None:
    from cotune.config import parse_overrides
    from cotune.config.pretrain import load_pretrain_config
    from cotune.recipes.pretrain import pretrain as run

    cfg = load_pretrain_config(config, parse_overrides(ctx.args))
    relaunch(ctx, nproc)  # --nproc N: this command again, as N processes under torchrun
    out = run(cfg, resume=resume, overwrite=overwrite, progress=progress_enabled(quiet))
    if is_worker():  # under torchrun rank 0 reports
        return
    metrics = json.loads((out / "metrics.json").read_text())
    b, a, tr = metrics["before"], metrics["after"], metrics["training"]
    console.print(
        f"held-out masked LM: loss {b['mlm_loss']:.3f} -> {a['mlm_loss']:.3f}, accuracy "
        f"{b['mlm_accuracy']:.3f} -> {a['mlm_accuracy']:.3f}; {tr['steps']} steps in "
        f"{tr['train_seconds'] / 60:.1f} min"
    )
    console.print(f"backbone written to [bold]{out}[/]")
