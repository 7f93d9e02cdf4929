"""`cotune registry add|list|show|promote|export`"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cotune.cli.common import console, print_json, reports_errors

if TYPE_CHECKING:
    from cotune.registry import ModelRegistry

app = typer.Typer(
    help="Model registry: named models, versions, aliases and stages (MLflow registry on the "
    "tracking store).\n\nReferences: NAME (latest), NAME:VERSION, NAME@ALIAS, "
    "models:/NAME/VERSION.",
    no_args_is_help=True,
)
URI = typer.Option(
    None,
    "--uri",
    help="MLflow store (default: $MLFLOW_TRACKING_URI, $COTUNE_HOME/mlruns.db, ./mlruns.db).",
)


def _registry(uri: str | None) -> ModelRegistry:
    from cotune.registry import ModelRegistry

    return ModelRegistry(uri)


@app.command(
    "add",
    help="Register an artifact folder as the next version of NAME.\n\n"
    "  cotune registry add wnut16-ner runs/wnut16-ner --alias candidate",
)
@reports_errors
def add(
    name: str = typer.Argument(..., help="Registered model name."),
    folder: Path = typer.Argument(..., help="Artifact folder."),
    run: str = typer.Option(None, "--run", help="Run id (default: from the folder)."),
    description: str = typer.Option("", "--description", "-d"),
    alias: str = typer.Option(None, "--alias", help="Point this alias at the new version."),
    uri: str = URI,
) -> None:
    info = _registry(uri).add(name, folder, run_id=run, description=description, alias=alias)
    console.print(f"registered {info.ref} -> {info.source} (run {info.run_id or 'none'})")


@app.command("list", help="Registered models.\n\n  cotune registry list")
@reports_errors
def list_models(
    as_json: bool = typer.Option(False, "--json"),
    uri: str = URI,
) -> None:
    from rich.console import Console
    from rich.table import Table

    models = _registry(uri).list()
    if as_json:
        print_json(models)
        return
    table = Table("name", "latest", "aliases", "updated", "description")
    for m in models:
        aliases = ", ".join(f"{a}->{v}" for a, v in sorted(m["aliases"].items()))
        table.add_row(m["name"], str(m["latest_version"]), aliases, m["updated"], m["description"])
    Console().print(table)


@app.command(
    "show",
    help="A model's versions, or one version: source folder, run, aliases, stage, scores.\n\n"
    "  cotune registry show wnut16-ner\n  cotune registry show wnut16-ner@production",
)
@reports_errors
def show(
    ref: str = typer.Argument(..., help="NAME, NAME:VERSION or NAME@ALIAS."),
    as_json: bool = typer.Option(False, "--json"),
    uri: str = URI,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from cotune.registry import parse_ref

    reg = _registry(uri)
    _, version, alias = parse_ref(ref)
    infos = [reg.get(ref)] if version or alias else reg.versions(parse_ref(ref)[0])
    if as_json:
        print_json([i.to_dict() for i in infos])
        return
    table = Table("version", "aliases", "stage", "run", "scores", "source", "created")
    for i in infos:
        scores = ", ".join(
            f"{k} {v}" for k, v in sorted(i.tags.items()) if k.startswith(("dev_", "test_"))
        )
        table.add_row(
            str(i.version),
            ", ".join(i.aliases),
            i.stage,
            (i.run_id or "")[:12],
            scores,
            i.source,
            i.created,
        )
    Console().print(table)


@app.command(
    "promote",
    help="Point an alias at a version (recommended), or move it to a stage.\n\n"
    "  cotune registry promote wnut16-ner:3 --alias production\n"
    "  cotune registry promote wnut16-ner:3 --stage Production --archive-existing",
)
@reports_errors
def promote(
    ref: str = typer.Argument(..., help="NAME:VERSION (or NAME@ALIAS)."),
    alias: str = typer.Option(None, "--alias", help="e.g. production, champion."),
    stage: str = typer.Option(None, "--stage", help="Staging, Production or Archived."),
    archive_existing: bool = typer.Option(
        False, "--archive-existing", help="With --stage: archive other versions in that stage."
    ),
    uri: str = URI,
) -> None:
    info = _registry(uri).promote(ref, alias=alias, stage=stage, archive_existing=archive_existing)
    console.print(f"{info.ref}: aliases {info.aliases or '-'}, stage {info.stage}")


@app.command(
    "export",
    help="Copy a version's artifact folder out.\n\n"
    "  cotune registry export wnut16-ner@production ./ship/wnut16-ner",
)
@reports_errors
def export(
    ref: str = typer.Argument(..., help="NAME, NAME:VERSION or NAME@ALIAS."),
    dest: Path = typer.Argument(..., help="New folder to copy the artifact into."),
    uri: str = URI,
) -> None:
    out = _registry(uri).export(ref, dest)
    console.print(f"exported {ref} to {out}")


@app.command(
    "challenge",
    help="Promote a candidate only if it is better than the current version: scored on the "
    "earlier and the new test data, it must gain on the new data and lose at most --margin on "
    "the earlier. The comparison goes to the candidate's card (promotion.json) either way.\n\n"
    "  cotune registry challenge sentiment runs/sentiment-v2 --earlier rt-polarity:test "
    "--new reviews_test.csv\n"
    "  cotune registry challenge sentiment sentiment:4 --earlier old_test.jsonl --new "
    "new_test.jsonl --margin 0.005 --alias production --dry-run",
)
@reports_errors
def challenge(
    name: str = typer.Argument(..., help="Registered model name."),
    candidate: str = typer.Argument(
        ..., help="Artifact folder (registered as the next version) or NAME:VERSION."
    ),
    earlier: str = typer.Option(
        ..., "--earlier", help="Earlier test data: file, SOURCE:SPLIT, or a split of the model."
    ),
    new: str = typer.Option(..., "--new", help="New test data (same forms)."),
    alias: str = typer.Option("production", "--alias", help="The alias that marks current."),
    margin: float = typer.Option(
        0.01, "--margin", help="Largest allowed drop on the earlier data (0.01 = 1 point)."
    ),
    min_gain: float = typer.Option(
        0.0, "--min-gain", help="The gain on the new data must exceed this."
    ),
    metric: str = typer.Option(None, "--metric", help="Default: the candidate's own metric."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Compare and record; move nothing."),
    as_json: bool = typer.Option(False, "--json"),
    uri: str = URI,
) -> None:
    from cotune.errors import ConfigError
    from cotune.registry.promotion import challenge as run_challenge

    if margin < 0:
        raise ConfigError(f"--margin {margin} is negative", where="--margin", fix="use >= 0")
    decision = run_challenge(
        _registry(uri),
        name,
        candidate,
        earlier=earlier,
        new=new,
        alias=alias,
        margin=margin,
        min_gain=min_gain,
        metric=metric,
        dry_run=dry_run,
    )
    if as_json:
        print_json(decision.to_dict())
    for role, row in decision.sets.items():
        cur = "-" if row["current"] is None else f"{row['current']:.4f}"
        console.print(
            f"{role:<8} {decision.metric}: current {cur}, candidate {row['candidate']:.4f} "
            f"({row['data']}, n={row['n']})"
        )
    console.print(decision.reason)
