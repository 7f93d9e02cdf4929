"""`cotune reproduce RUN_OR_VERSION`"""

from __future__ import annotations

from pathlib import Path

import typer

from cotune.cli.common import console, print_json, progress_enabled, reports_errors

HELP = """Re-run a run from its logged config and split; report the metric difference.

The origin is an artifact folder, a registered version (NAME:VERSION, NAME@ALIAS) or a run id
(a unique prefix will do). Exits with status 1 when the main metric moved by more than
--tolerance points (0.5 by default), so it can guard a CI job.

\b
  cotune reproduce runs/wnut16-ner
  cotune reproduce wnut16-ner@production --output-dir /tmp/repro
  cotune reproduce 3f2a9c
"""


@reports_errors
def reproduce(
    ref: str = typer.Argument(..., help="Artifact folder, NAME:VERSION / NAME@ALIAS, or run id."),
    tolerance: float = typer.Option(
        0.5, "--tolerance", help="Allowed change of the main metric, in points (0.5 = 0.005)."
    ),
    output_dir: Path = typer.Option(
        None, "--output-dir", help="Where the re-run goes (default: the original output_dir)."
    ),
    backend: str = typer.Option("auto", "--backend", help="Tracking backend of the run id."),
    uri: str = typer.Option(None, "--uri", help="Tracking / registry store."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from cotune.recipes.reproduce import reproduce as run_reproduce

    rep = run_reproduce(
        ref,
        backend=backend,
        uri=uri,
        output_dir=output_dir,
        tolerance=tolerance / 100,
        progress=progress_enabled(quiet),
    )
    if as_json:
        print_json(rep.to_dict())
    else:
        for k in sorted(rep.diff):
            if k.startswith("n"):
                continue
            console.print(
                f"{rep.split} {k}: {rep.original[k]:.4f} -> {rep.reproduced[k]:.4f} "
                f"({100 * rep.diff[k]:+.2f} points)",
                highlight=False,
            )
        console.print(f"split identical: {rep.split_match}; data identical: {rep.data_match}")
        console.print(f"re-run written to {rep.folder} (run {rep.reproduced_run or '-'})")
    verdict = "reproduced" if rep.within_tolerance else "NOT reproduced"
    console.print(
        f"{verdict}: {rep.split} {rep.metric} moved "
        f"{100 * rep.diff.get(rep.metric, float('nan')):+.2f} points (tolerance {tolerance})"
    )
    if not rep.within_tolerance:
        raise typer.Exit(1)
