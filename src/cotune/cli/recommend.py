"""`cotune recommend train CONFIG` and `cotune recommend FOLDER --user ID | --history FILE`"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from cotune.cli.common import console, print_json, progress_enabled, reports_errors

HELP = """Train a text-based recommender, or ask one for recommendations.

`train CONFIG` fine-tunes the encoder as two towers (history text -> next item text), fills a
vector index with the item tower, fits the re-ranker and writes one folder with its test
metrics (warm and cold-start items). Any config key is also a flag (--train.epochs 2).

FOLDER with --user ID recommends for a known user from everything they chose; --history FILE
(JSONL, one {"item": ID} per line, or {"item": ID, "text": ...} for an item the catalog lacks)
recommends for that history. Each item comes with its score and the history items most like it.
An unknown user or an empty history gets the most popular items, flagged as a fallback.

\b
  cotune recommend train configs/recommend-ml100k.yaml
  cotune recommend train configs/recommend-ml100k.yaml --method.name lora --train.lr 5e-4
  cotune recommend runs/recommend-ml100k --user 196 --k 5
  cotune recommend runs/recommend-ml100k --history liked.jsonl --json
"""


@reports_errors
def recommend(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="`train`, or a recommender folder."),
    config: Path | None = typer.Argument(None, help="With `train`: the run config (YAML)."),
    user: str | None = typer.Option(None, "--user", help="A user id the recommender knows."),
    history: Path | None = typer.Option(
        None, "--history", help="JSONL of the items a user chose, oldest first."
    ),
    k: int = typer.Option(10, "--k", min=1, help="How many items."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    overwrite: bool = typer.Option(False, "--overwrite", help="train: replace the folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from cotune.errors import ConfigError

    if target == "train":
        _train(ctx, config, overwrite, quiet)
        return
    if config is not None or ctx.args:
        raise ConfigError(
            f"unexpected argument(s) {[str(config), *ctx.args] if config else ctx.args}",
            fix="cotune recommend FOLDER --user ID (or --history FILE)",
        )
    if (user is None) == (history is None):
        raise ConfigError(
            "give one of --user ID or --history FILE", fix="cotune recommend FOLDER --user 196"
        )
    from cotune.apps.recommend.model import Recommender

    model = Recommender.load(target)
    answer = model.recommend(user=user, history=read_history(history) if history else None, k=k)
    if as_json:
        print_json(answer)
    else:
        _table(answer)


def read_history(path: Path) -> list[Any]:
    """A history file: one JSON object per line with `item` (and `text` for a new item)."""
    from cotune.apps.recommend.model import HistoryItem
    from cotune.data.formats import json_rows, read_text
    from cotune.errors import DataError

    if not path.is_file():
        raise DataError("no such history file", where=str(path), fix="check the path")
    out = []
    fix = 'one object per line: {"item": "242"}'
    for n, raw in json_rows(read_text(path), str(path), fix=fix):
        where = f"{path}:{n}"
        if "item" not in raw:
            raise DataError(f"{raw!r} has no 'item'", where=where, fix=fix)
        item, text = raw["item"], raw.get("text")
        if isinstance(item, bool) or not isinstance(item, (str, int)) or not str(item).strip():
            raise DataError(
                f"'item' is {item!r}, not a string or integer id",
                where=where,
                fix='write the id as "242" or 242',
            )
        if text is not None and not isinstance(text, str):
            raise DataError(f"'text' is {text!r}", where=where, fix="text is a string")
        out.append(HistoryItem(str(item).strip(), text))
    return out


def _train(ctx: typer.Context, config: Path | None, overwrite: bool, quiet: bool) -> None:
    from cotune.apps.recommend.config import load_recommend_config
    from cotune.apps.recommend.recipe import train_recommender
    from cotune.config import parse_overrides
    from cotune.errors import ConfigError

    if config is None:
        raise ConfigError("`train` needs a run config", fix="cotune recommend train CONFIG.yaml")
    cfg = load_recommend_config(config, parse_overrides(ctx.args))
    out = train_recommender(cfg, overwrite=overwrite, progress=progress_enabled(quiet))
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    for model in ("two-tower", "hybrid"):
        for split, m in metrics[model].items():
            shown = {key: round(v, 4) for key, v in m.items() if key != "cases"}
            console.print(f"{model} {split} ({m['cases']} users): {shown}")
    tr = metrics["training"]
    console.print(
        f"trained {tr['steps']} steps on {tr['pairs']} pairs in {tr['train_seconds']:.0f}s"
    )
    console.print(f"recommender written to [bold]{out}[/]")


def _table(answer: dict[str, Any]) -> None:
    from rich.table import Table

    if answer["fallback"]:
        console.print(f"[yellow]{answer['reason']}: most popular items instead[/]")
    from rich.console import Console

    table = Table("#", "item", "score", "because you chose")
    for n, row in enumerate(answer["items"], 1):
        because = "; ".join(b["text"] for b in row["because"])
        table.add_row(str(n), row["text"], f"{row['score']:.3f}", because)
    Console().print(table)  # the answer goes to stdout; notes and errors to stderr
