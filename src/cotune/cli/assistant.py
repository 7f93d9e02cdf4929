"""`cotune assistant build | ask | review | demo-data`"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from cotune.cli.common import console, print_json, progress_enabled, reports_errors

app = typer.Typer(
    help="Customer-service assistant: intents, out-of-scope detection, FAQ answers, hand-off.",
    no_args_is_help=True,
)

BUILD_HELP = """Build an assistant folder: the fine-tuned intent model, the FAQ answer index (dense
vectors + BM25), the calibrated out-of-scope threshold and a card (card.md). Rebuilding an
existing folder (--overwrite) is atomic: the old assistant stays whole until the new one is.

SOURCE is a folder holding intents.jsonl|csv and faq.jsonl|csv (and optionally dev.* and
out_of_scope.*), or a YAML config; --intents/--faq name the files directly. Any config key is
also a flag (docs/assistant.md lists them):

\b
  cotune assistant build examples/support-demo --out runs/bank-assistant
  cotune assistant build --intents intents.csv --faq faq.csv --out runs/shop --dev dev.csv
  cotune assistant build examples/support-demo --out runs/b --intent.method.name lora \\
      --intent.train.lr 1e-3 --retrieval.index hnsw --oos.target_recall 0.9
"""

ASK_HELP = """Ask a built assistant; prints one JSON answer per query: intent (null: out of
scope), confidence, answer, faq_id, handoff (and why), candidates (top FAQ ids with scores).

\b
  cotune assistant ask runs/bank-assistant "I lost my card"
  cotune assistant ask runs/bank-assistant "我的银行卡丢了"
  cotune assistant ask runs/bank-assistant --input queries.jsonl --output answers.jsonl

--input reads JSONL rows {"text": ...} (or plain text lines) and writes JSONL. Every query is
logged to DIR/queries.db unless --no-log.
"""

REVIEW_HELP = """Export the logged queries that were handed off or answered with low confidence
as a labelling file in the intents format ({"text", "intent", "lang"} plus "_" notes that the
reader ignores). Check each row's intent (null = out of scope), then append the file to the
intents file and rebuild. Exported queries are marked and not exported again (--all: all).

\b
  cotune assistant review runs/bank-assistant --out to-label.jsonl
  cotune assistant review runs/bank-assistant --out to-label.jsonl --below 0.7 --all
"""

DEMO_HELP = """Write the project's own demo data (Northwind Bank, fictitious): 22 intents in
English and Chinese, FAQ answers, held-out test utterances and out-of-scope queries.

\b
  cotune assistant demo-data examples/support-demo
"""

_SOURCE_FILES = {"intents": "intents", "faq": "faq", "dev": "dev", "out_of_scope": "out_of_scope"}


def _from_folder(folder: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, stem in _SOURCE_FILES.items():
        for suffix in (".jsonl", ".csv", ".txt"):
            if (folder / f"{stem}{suffix}").is_file():
                found[key] = str(folder / f"{stem}{suffix}")
                break
    return found


@app.command(
    "build",
    help=BUILD_HELP,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
@reports_errors
def build(
    ctx: typer.Context,
    source: Path = typer.Argument(None, help="Data folder or YAML config (optional)."),
    out: Path = typer.Option(..., "--out", "-o", help="Assistant folder to write."),
    intents: Path = typer.Option(None, "--intents", help="Intents file (JSONL or CSV)."),
    faq: Path = typer.Option(None, "--faq", help="FAQ file (JSONL or CSV)."),
    dev: Path = typer.Option(None, "--dev", help="Dev file (default: a seeded split)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Rebuild an existing assistant."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    from cotune.apps.assistant.build import build_assistant
    from cotune.apps.assistant.config import AssistantConfig
    from cotune.config.load import apply_overrides, check_schema, parse_overrides, read_config
    from cotune.errors import ConfigError

    raw: dict[str, Any] = {}
    tree = None
    where = "<flags>"
    if source is not None:
        if source.is_dir():
            raw = _from_folder(source)
            if not raw:
                raise ConfigError(
                    f"{source} holds no intents.jsonl/.csv or faq.jsonl/.csv",
                    where=str(source),
                    fix="put the files there with those names, or pass --intents and --faq",
                )
        elif source.is_file():
            raw, tree = read_config(source)
            where = str(source)
        else:
            raise ConfigError(f"no such folder or config {source}", fix="check the path")
    for key, value in (("intents", intents), ("faq", faq), ("dev", dev)):
        if value is not None:
            raw[key] = str(value)
    for key in ("intents", "faq"):
        if key not in raw:
            raise ConfigError(f"no {key} file given", fix=f"pass --{key} FILE or a data folder")
    raw = apply_overrides(raw, parse_overrides(ctx.args))
    cfg = check_schema(raw, AssistantConfig, where, tree)
    figures = build_assistant(cfg, out, overwrite=overwrite, progress=progress_enabled(quiet))
    print_json(figures)
    console.print(f"assistant written to [bold]{out}[/] (card: {out / 'card.md'})")


@app.command("ask", help=ASK_HELP)
@reports_errors
def ask(
    folder: Path = typer.Argument(..., help="A built assistant folder."),
    text: str = typer.Argument(None, help="The question (or use --input)."),
    input_file: Path = typer.Option(None, "--input", "-i", help="JSONL (or text) queries."),
    output: Path = typer.Option(None, "--output", help="Write JSONL here (default stdout)."),
    no_log: bool = typer.Option(False, "--no-log", help="Do not log the queries."),
) -> None:
    from cotune.apps.assistant.engine import Assistant
    from cotune.apps.assistant.log import QueryLog
    from cotune.errors import ConfigError

    if (text is None) == (input_file is None):
        raise ConfigError(
            "give one question or --input FILE", fix='cotune assistant ask DIR "text"'
        )
    bot = Assistant.load(folder)
    log = None if no_log else QueryLog(folder / "queries.db")
    if input_file is None:
        answers = bot.ask_many([text])
        if log:
            log.record(answers, "cli")
        print_json(answers[0])
        return
    queries = _read_queries(input_file, bot.config.max_chars)
    lines: list[str] = []
    for start in range(0, len(queries), 64):
        answers = bot.ask_many([q for q, _ in queries[start : start + 64]])
        if log:
            log.record(answers, "cli")
        lines += [json.dumps(a, ensure_ascii=False) + "\n" for a in answers]
    if output is None:
        sys.stdout.writelines(lines)
    else:
        from cotune.apps.assistant.log import _write_atomic

        _write_atomic(output, [json.loads(x) for x in lines])
        console.print(f"{len(lines)} answers written to [bold]{output}[/]")


def _read_queries(path: Path, max_chars: int) -> list[tuple[str, str]]:
    """(text, file:line) per query; each is checked here so a bad line is named."""
    from cotune.apps.assistant.engine import check_query
    from cotune.data.formats import read_text, text_lines
    from cotune.errors import DataError

    out = []
    for n, line in enumerate(text_lines(read_text(path)), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        value: Any = line
        if path.suffix.lower() == ".jsonl":
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(
                    f"not valid JSON ({e.msg})", where=where, fix='{"text": "..."}'
                ) from None
            if not isinstance(row, dict) or "text" not in row:
                raise DataError('a row without "text"', where=where, fix='{"text": "..."}')
            value = row["text"]
        out.append((check_query(value, max_chars, where), where))
    if not out:
        raise DataError("no queries in the file", where=str(path))
    return out


@app.command("review", help=REVIEW_HELP)
@reports_errors
def review(
    folder: Path = typer.Argument(..., help="A built assistant folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Labelling file to write (JSONL)."),
    below: float = typer.Option(
        None, "--below", help="Confidence cut (default: the hand-off one)."
    ),
    include_reviewed: bool = typer.Option(False, "--all", help="Also queries exported before."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
) -> None:
    from cotune.apps.assistant.engine import MARKER
    from cotune.apps.assistant.log import QueryLog
    from cotune.errors import ArtifactError, ConfigError

    if not (folder / MARKER).is_file():
        raise ArtifactError(f"{folder} is not a built assistant", fix="cotune assistant build")
    if out.exists() and not overwrite:
        raise ConfigError(
            f"{out} exists", where=str(out), fix="choose another --out or --overwrite"
        )
    if not (folder / "queries.db").is_file():
        raise ArtifactError(f"{folder} has no query log yet", fix="ask it some questions first")
    if below is None:
        meta = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        below = float(meta["config"]["oos"]["handoff_below"])
    n = QueryLog(folder / "queries.db").export_review(
        out, below=below, include_reviewed=include_reviewed
    )
    console.print(f"{n} queries to label written to [bold]{out}[/]; fix the intents, then append")


@app.command("demo-data", help=DEMO_HELP)
@reports_errors
def demo_data(out: Path = typer.Argument(..., help="Folder to write the demo files to.")) -> None:
    from cotune.apps.assistant.demo import write_demo

    print_json(write_demo(out))
