"""Metrics as rich tables for the training commands (train, and any recipe writing metrics.json).

A run's metrics.json holds the dev and test scores side by side plus per-type (NER) or
per-class (classification) reports; printing them as dict reprs (`{'f1': 0.587, ...}`) made a
newcomer read Python syntax. These tables put one metric per row and one split per column.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

SPLITS = ("dev", "test")
# the per-label reports the tasks write: NER's entity types, classification's classes
BREAKDOWNS = (("per_type", "entity type", "entity types"), ("per_class", "class", "classes"))


def _scalars(metrics: dict[str, Any], split: str) -> dict[str, float]:
    scores = metrics.get(split) or {}
    return {k: float(v) for k, v in scores.items() if isinstance(v, float)}


def _count(scores: dict[str, Any]) -> Any:
    return scores.get("n", scores.get("n_sentences"))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def scores_table(metrics: dict[str, Any]) -> Table | None:
    """One row per scalar metric (f1, accuracy, ...), dev and test side by side; None if a run
    scored neither split (e.g. a run with no dev or test data)."""
    per_split = {s: _scalars(metrics, s) for s in SPLITS}
    present = [s for s in SPLITS if per_split[s]]
    if not present:
        return None
    table = Table(title="scores", title_justify="left")
    table.add_column("metric")
    for split in present:
        table.add_column(split, justify="right")
    names: list[str] = []
    for split in present:
        names += [k for k in per_split[split] if k not in names]
    for name in names:
        table.add_row(name, *(_fmt(per_split[s].get(name)) for s in present))
    # classification counts texts (n), NER sentences (n_sentences)
    counts = [_count(metrics.get(s) or {}) for s in present]
    if any(isinstance(c, int) for c in counts):
        table.add_row("examples", *(str(c) if isinstance(c, int) else "-" for c in counts))
    return table


def breakdown_table(metrics: dict[str, Any]) -> Table | None:
    """Per entity type or class: the last split's precision, recall, F1 and support (test when
    scored), with the other split's F1 beside it, so an 80-column terminal fits every name."""
    for key, label, title in BREAKDOWNS:
        reports = {s: (metrics.get(s) or {}).get(key) or {} for s in SPLITS}
        present = [s for s in SPLITS if reports[s]]
        if not present:
            continue
        main, others = present[-1], present[:-1]
        table = Table(title=title, title_justify="left")
        table.add_column(label, no_wrap=True)
        for split in others:
            table.add_column(f"{split} F1", justify="right")
        for name in ("P", "R", "F1", "n"):
            table.add_column(f"{main} {name}", justify="right")
        names: list[str] = []
        for split in present:
            names += [k for k in reports[split] if k not in names]
        for name in sorted(names):
            row = reports[main].get(name) or {}
            cells = [_fmt((reports[s].get(name) or {}).get("f1-score")) for s in others]
            cells += [_fmt(row.get(m)) for m in ("precision", "recall", "f1-score")]
            cells.append(str(int(row["support"])) if "support" in row else "-")
            table.add_row(name, *cells)
        return table
    return None


def training_line(training: dict[str, Any]) -> str:
    """What the run cost: steps, epochs, time, speed and the trainable share."""
    return (
        f"trained {training['steps']} steps ({training['epochs']} epochs) in "
        f"{training['train_seconds']:.1f}s, {training['words_per_s']:.0f} words/s; trainable "
        f"{training['trainable_pct']:.2f}% of {training['params_total']:,} params"
    )
