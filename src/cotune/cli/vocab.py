"""`cotune vocab extend BASE --from TEXT ... --out FOLDER`"""

from __future__ import annotations

from pathlib import Path

import typer

from cotune.cli.common import console, print_json, reports_errors

app = typer.Typer(help="Backbone vocabularies: extend one for a domain.", no_args_is_help=True)

EXTEND_HELP = """Write a new backbone whose tokenizer also knows the characters (CJK) or word-pieces
(other scripts and domains) of the given text that BASE lacks; new embedding rows start from
the pieces they replace (else the mean embedding plus noise); old ids and rows are unchanged.
Prints the unknown-token rate of the text before and after.

Labelled catalog sources and files give only the texts of their default training split
(seed 13, 80/10/10), so a later fine-tune's dev/test text stays unseen; --all uses everything.

\b
  cotune vocab extend minilm-l6 --from peoples-daily-1998 --from chnsenti --out backbones/zh
  cotune vocab extend minilm-l6 --from tweets.txt --mode wordpieces --max-new 2000 --out tw
"""


@app.command("extend", help=EXTEND_HELP)
@reports_errors
def extend(
    base: str = typer.Argument(..., help="Catalog name or backbone folder."),
    sources: list[str] = typer.Option(
        ..., "--from", help="Catalog source, text file (one text a line) or folder; repeatable."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the new backbone to."),
    min_freq: int = typer.Option(2, "--min-freq", min=1, help="Add only what occurs this often."),
    max_new: int = typer.Option(0, "--max-new", min=0, help="At most N new entries (0: all)."),
    mode: str = typer.Option("auto", "--mode", help="auto | chars | wordpieces."),
    noise: float = typer.Option(0.1, "--noise", min=0.0, help="Noise of mean-initialised rows."),
    use_all: bool = typer.Option(False, "--all", help="Use all of a labelled source's text."),
    split_seed: int = typer.Option(13, "--split-seed", help="Seed of that training split."),
    limit: int = typer.Option(0, "--limit", min=0, help="At most N texts per source (0: all)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing folder."),
) -> None:
    from cotune.config.schema import SplitConfig
    from cotune.data.texts import load_texts
    from cotune.errors import ConfigError
    from cotune.models.card import write_backbone_card
    from cotune.models.catalog import resolve_backbone
    from cotune.models.vocab import extend_backbone

    if mode not in ("auto", "chars", "wordpieces"):
        raise ConfigError(f"--mode {mode!r}", fix="use auto, chars or wordpieces")
    text = load_texts(
        sources,
        use="all" if use_all else "train-split",
        split=SplitConfig(seed=split_seed),
        limit=limit or None,
    )
    ext = extend_backbone(
        resolve_backbone(base),
        text.texts,
        out,
        base_name=base,
        min_freq=min_freq,
        max_new=max_new or None,
        mode=mode,  # type: ignore[arg-type]  # checked above
        noise=noise,
        sources=text.sources,
        overwrite=overwrite,
    )
    write_backbone_card(out)
    summary = {k: v for k, v in ext.to_dict().items() if k not in ("added", "sources")}
    print_json({**summary, "added_first": ext.added[:20], "out": str(out)})
    console.print(
        f"{len(ext.added)} entries added ({ext.mode}); unknown-token rate "
        f"{ext.unk_rate_before:.2%} -> {ext.unk_rate_after:.2%}; backbone written to [bold]{out}[/]"
    )
