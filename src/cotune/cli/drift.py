"""`cotune drift MODEL --reference FILE|SPLIT --current FILE`"""

from __future__ import annotations

from pathlib import Path

import typer

from cotune.cli.common import console, print_json, progress_enabled, reports_errors

HELP = """Is what arrives still like what the model was trained on?

Compares a current set of texts with a reference set through the model: its sentence
embeddings (MMD permutation test; effect = a classifier two-sample AUC), its predicted classes
and confidence, the gold labels where both sets have them, and the [UNK] / out-of-vocabulary
rates. A check is flagged only when it is significant (p < --alpha) AND its effect reaches a
practical threshold, so a large sample of the same distribution is not called drift.

A set is a file (labelled CoNLL/JSONL/CSV, JSONL with only "text", or .txt one text a line), a
split of the model's own data (train, dev, test), or SOURCE:SPLIT of the catalog.

\b
  cotune drift runs/rt-polarity --reference test --current new_reviews.txt
  cotune drift runs/wnut16-ner --reference train --current tweets_2025.jsonl --out drift/
  cotune drift runs/rt-polarity --current week.jsonl --fail-on-drift   # exit 3 on drift

Writes OUT/drift.json and OUT/drift.png; prints the JSON with --json.
"""


@reports_errors
def drift(
    model: Path = typer.Argument(..., help="Artifact folder."),
    current: str = typer.Option(..., "--current", help="The set that arrives now."),
    reference: str = typer.Option(
        "train", "--reference", help="File, split of the model's data, or SOURCE:SPLIT."
    ),
    out: Path = typer.Option(Path("drift"), "--out", help="Folder for drift.json and drift.png."),
    alpha: float = typer.Option(0.01, "--alpha", help="Significance level of every test."),
    min_auc: float = typer.Option(0.6, "--min-auc", help="Least classifier AUC for drift."),
    min_tvd: float = typer.Option(0.1, "--min-tvd", help="Least class-share shift (TVD)."),
    min_samples: int = typer.Option(30, "--min-samples", help="Smallest set accepted."),
    max_samples: int = typer.Option(1000, "--max-samples", help="Texts compared a side."),
    permutations: int = typer.Option(500, "--permutations", help="MMD permutations."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON to stdout."),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help="Exit with status 3 when drift is flagged (for CI)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from pydantic import ValidationError

    from cotune.artifact.load import load_artifact
    from cotune.drift import DriftOptions, detect_drift, load_sample
    from cotune.errors import ConfigError
    from cotune.training.progress import make_progress

    try:
        opts = DriftOptions(
            alpha=alpha,
            min_auc=min_auc,
            min_tvd=min_tvd,
            min_samples=min_samples,
            max_samples=max_samples,
            permutations=permutations,
            seed=seed,
        )
    except ValidationError as e:
        err = e.errors()[0]
        flag = "--" + str(err["loc"][0]).replace("_", "-")
        raise ConfigError(
            f"{err['msg']} (got {err['input']!r})", where=flag, fix="see --help"
        ) from None
    predictor = load_artifact(model)
    own = (predictor.meta.config or {}).get("data")
    ref = load_sample(reference, own_data=own)
    cur = load_sample(current, own_data=own)
    bar = make_progress(progress_enabled(quiet))
    with bar:
        total = min(len(ref), max_samples) + min(len(cur), max_samples)
        task = bar.add_task("drift", total=total, info="")
        report = detect_drift(
            predictor, ref, cur, opts, progress=lambda n: bar.update(task, advance=n)
        )
    report.write(out / "drift.json", out / "drift.png")
    if as_json:
        print_json(report.to_dict())
    for c in report.checks:
        p = "-" if c.p_value is None else f"{c.p_value:.3g}"
        mark = "[bold red]DRIFT[/]" if c.flagged else "ok"
        console.print(
            f"{c.name:<12} {c.effect_name} {c.effect:.4f} (threshold {c.threshold:g}), "
            f"p {p}: {mark}"
        )
    for note in report.notes:
        console.print(f"note: {note}")
    verdict = "[bold red]drift[/]" if report.drift else "no drift"
    console.print(f"{verdict}; report in {out / 'drift.json'} and {out / 'drift.png'}")
    if fail_on_drift and report.drift:
        raise typer.Exit(3)
