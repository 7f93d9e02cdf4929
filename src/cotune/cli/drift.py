"""`cotune drift MODEL --reference FILE|SPLIT --current FILE`"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
  cotune drift runs/rt-polarity --reference test --store monitor.db \
      --since 2026-12-01 --until 2026-12-03 --topic acme   # the sentiment monitor's events

With --store (the monitor's SQLAlchemy URL or SQLite file) the current set is the texts of the
events stored in [--since, --until) (ISO dates/times in UTC, or Unix seconds), optionally of one
--topic; --reference-since/--reference-until take the reference from the store too.

Writes OUT/drift.json and OUT/drift.png; prints the JSON with --json.
"""


@reports_errors
def drift(
    model: Path = typer.Argument(..., help="Artifact folder."),
    current: str = typer.Option(None, "--current", help="The set that arrives now."),
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
    store: str = typer.Option(None, "--store", help="The monitor's store (URL or SQLite file)."),
    since: str = typer.Option(None, "--since", help="With --store: from this time on."),
    until: str = typer.Option(None, "--until", help="With --store: before this time."),
    topic: str = typer.Option(None, "--topic", help="With --store: only this topic."),
    reference_since: str = typer.Option(None, "--reference-since", help="Reference from --store."),
    reference_until: str = typer.Option(None, "--reference-until", help="Reference from --store."),
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
    if store is None and (current is None or since or until or reference_since):
        raise ConfigError(
            "no current set" if current is None else "--since/--until read the monitor's store",
            where="--current" if current is None else "--store",
            fix="give --current FILE|SPLIT, or --store URL with --since/--until",
        )
    if store is not None and current is not None:
        raise ConfigError(
            "--current and --store both name the current set", where="--current", fix="pick one"
        )
    if store is not None and (reference_since or reference_until):
        ref = store_sample(store, reference_since, reference_until, topic)
    else:
        ref = load_sample(reference, own_data=own)
    cur = (
        store_sample(store, since, until, topic)
        if store is not None
        else load_sample(current, own_data=own)
    )
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


def store_sample(url: str, since: str | None, until: str | None, topic: str | None) -> Any:
    """The texts of the monitor's stored events in [since, until), oldest first (read-only)."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.exc import SQLAlchemyError

    from cotune.apps.monitor.store import events
    from cotune.drift import from_texts
    from cotune.errors import DataError

    if "://" not in url:
        if not Path(url).is_file():
            raise DataError("no such store file", where=url, fix="give the monitor's store")
        url = f"sqlite:///{Path(url).resolve()}"
    lo, hi = _when(since, "--since"), _when(until, "--until")
    query = select(events.c.text).order_by(events.c.ts)
    if lo is not None:
        query = query.where(events.c.ts >= lo)
    if hi is not None:
        query = query.where(events.c.ts < hi)
    if topic:
        query = query.where(events.c.topic == topic)
    try:
        with create_engine(url).connect() as conn:
            texts = [row[0] for row in conn.execute(query)]
    except SQLAlchemyError as e:
        raise DataError(f"cannot read the monitor's events: {e}", where=url) from None
    span = f"{since or 'start'}..{until or 'end'}" + (f", topic {topic}" if topic else "")
    return from_texts(f"{url} [{span}]", texts)


def _when(value: str | None, flag: str) -> float | None:
    import datetime as dt

    from cotune.errors import ConfigError

    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{value!r} is not a time",
            where=flag,
            fix="use 2026-12-01, 2026-12-01T08:00 or Unix seconds",
        ) from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()
