"""`cotune runs list|show|compare`: read tracked runs back from the store."""

from __future__ import annotations

import typer

from cotune.cli.common import print_json, reports_errors

app = typer.Typer(help="Tracked runs: list, show, compare.", no_args_is_help=True)

BACKEND = typer.Option(
    "auto", "--backend", help="mlflow or jsonl (auto: $COTUNE_TRACKING, else mlflow)."
)
URI = typer.Option(
    None,
    "--uri",
    help="Store: sqlite:///x.db, http://host:5000 or a jsonl folder (default: $MLFLOW_TRACKING_URI,"
    " $COTUNE_HOME/mlruns.db, ./mlruns.db).",
)
# metrics worth a column in a list: the final scores, not the per-step curves
SUMMARY_PREFIXES = ("test_", "final_dev_")


def _fmt(v: float) -> str:
    return f"{v:.4f}" if abs(v) < 1000 else f"{v:,.0f}"


@app.command("list", help="Recent runs, newest first.\n\n  cotune runs list --limit 10")
@reports_errors
def list_runs(
    experiment: str = typer.Option(None, "--experiment", "-e", help="Only this experiment."),
    limit: int = typer.Option(20, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    backend: str = BACKEND,
    uri: str = URI,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from cotune.tracking import open_store

    runs = open_store(backend, uri).list_runs(experiment, limit)
    if as_json:
        print_json([r.to_dict() for r in runs])
        return
    table = Table("run", "name", "experiment", "kind", "status", "started", "s", "scores")
    for r in runs:
        main = r.tags.get("cotune.metric")
        scores = ", ".join(
            f"{label} {_fmt(r.metrics[key])}"
            for label, key in (
                (f"dev {main}", f"final_dev_{main}"),
                (f"test {main}", f"test_{main}"),
                (f"best dev {main}", "best_value"),
            )
            if main and key in r.metrics
        )
        dur = f"{r.duration_s:.0f}" if r.duration_s is not None else ""
        table.add_row(
            r.run_id[:12],
            r.name,
            r.experiment,
            r.tags.get("cotune.kind", ""),
            r.status,
            r.started,
            dur,
            scores,
        )
    Console().print(table)


@app.command(
    "show",
    help="Config, metrics, data provenance, system and artifact of one run (an id prefix will "
    "do).\n\n  cotune runs show 3f2a",
)
@reports_errors
def show(
    run: str = typer.Argument(..., help="Run id or a unique prefix."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    backend: str = BACKEND,
    uri: str = URI,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from cotune.tracking import open_store

    store = open_store(backend, uri)
    rec = store.get_run(run)
    if as_json:
        print_json(rec.to_dict())
        return
    con = Console()
    con.print(f"[bold]{rec.name}[/]  {rec.run_id}  ({rec.experiment}, {rec.status})")
    con.print(f"started {rec.started}, {rec.duration_s or 0:.0f} s; artifacts {rec.artifact_uri}")
    if "cotune.artifact_path" in rec.tags:
        con.print(f"artifact folder: {rec.tags['cotune.artifact_path']}")
    for title, items in (
        ("params", rec.params),
        ("metrics (latest)", {k: _fmt(v) for k, v in rec.metrics.items()}),
        ("tags", rec.tags),
    ):
        table = Table("key", "value", title=title, title_justify="left")
        for k in sorted(items):
            table.add_row(k, str(items[k]))
        con.print(table)


@app.command(
    "compare",
    help="Side by side: the params that differ and every final metric.\n\n"
    "  cotune runs compare 3f2a 9b1c",
)
@reports_errors
def compare(
    runs: list[str] = typer.Argument(..., help="Two or more run ids (or unique prefixes)."),
    all_params: bool = typer.Option(False, "--all", help="Show equal params too."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    backend: str = BACKEND,
    uri: str = URI,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from cotune.tracking import open_store

    store = open_store(backend, uri)
    recs = [store.get_run(r) for r in runs]
    keys = sorted(set().union(*(r.params for r in recs)))
    params = {
        k: [r.params.get(k, "") for r in recs]
        for k in keys
        if all_params or len({r.params.get(k) for r in recs}) > 1
    }
    mkeys = sorted(
        k for k in set().union(*(r.metrics for r in recs)) if k.startswith(SUMMARY_PREFIXES)
    )
    metrics = {k: [r.metrics.get(k) for r in recs] for k in mkeys}
    if as_json:
        print_json({"runs": [r.run_id for r in recs], "params": params, "metrics": metrics})
        return
    table = Table("", *[f"{r.name}\n{r.run_id[:12]}" for r in recs])
    for k, values in params.items():
        table.add_row(k, *values)
    table.add_section()
    for k, mvalues in metrics.items():
        table.add_row(k, *["" if v is None else _fmt(v) for v in mvalues])
    Console().print(table)
