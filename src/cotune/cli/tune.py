"""`cotune tune CONFIG --trials N`"""

from __future__ import annotations

from pathlib import Path

import typer

from cotune.cli.common import console, print_json, progress_enabled, reports_errors

HELP = """Search hyper-parameters with Optuna (TPE, median pruning on the dev metric).

The config's `tune:` section declares the space, keyed by dotted config path:

\b
  tune:
    trials: 12
    params:
      train.lr: {type: float, low: 1.0e-5, high: 2.0e-4, log: true}
      train.batch_size: {type: categorical, choices: [16, 32]}
      train.epochs: {type: int, low: 2, high: 5}

Each trial is a tracked `finetune` run; the best trial's artifact is kept, scored on test once
and registered. Several machines can share one study through `tune.storage` (an RDB URL).

\b
  cotune tune configs/rt-polarity-tune.yaml --trials 12
  cotune tune my.yaml --trials 4 --seed 1 --tune.storage postgresql://host/optuna
"""


@reports_errors
def tune(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Run config with a `tune:` section (YAML)."),
    trials: int = typer.Option(None, "--trials", "-n", help="Trials to run (default tune.trials)."),
    seed: int = typer.Option(None, "--seed", help="Sampler seed (one per machine in a study)."),
    no_register: bool = typer.Option(False, "--no-register", help="Do not register the best."),
    as_json: bool = typer.Option(False, "--json", help="Print the study summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    from cotune.config import load_config, parse_overrides
    from cotune.hpo import tune as run_study

    cfg = load_config(config, parse_overrides(ctx.args))
    result = run_study(
        cfg,
        trials=trials,
        seed=seed,
        register=False if no_register else None,
        progress=progress_enabled(quiet),
        echo=lambda line: console.print(line, highlight=False, markup=False),
    )
    if as_json:
        print_json(result.to_dict())
        return
    params = ", ".join(f"{k}={v}" for k, v in result.best_params.items())
    console.print(
        f"best: trial {result.best_trial}, dev {result.metric} {result.best_value:.4f} ({params})"
    )
    scores = {k: round(v, 4) for k, v in result.test.items() if not k.startswith("n")}
    if scores:
        console.print(f"test (scored once): {scores}")
    console.print(f"artifact: [bold]{result.best_folder}[/]")
    if result.registered:
        console.print(f"registered as {result.registered}")
    for note in result.notes:
        console.print(f"note: {note}")
    console.print(f"study summary and plots in {result.folder} ({result.wall_s:.0f} s)")
