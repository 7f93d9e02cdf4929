"""`cotune explain MODEL TEXT|--input FILE|--global`"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cotune.cli.common import console, print_json, progress_enabled, reports_errors

if TYPE_CHECKING:
    from cotune.explain import Explainer

HELP = """Explain predictions: which words drove them, with a faithfulness check.

A text prints JSON (the prediction, then per label or per predicted entity a signed score for
every word, with character offsets) and writes a self-contained HTML page (words shaded by
score) and a PNG. --input FILE explains every text of a .jsonl / .csv / .txt file (JSONL to
--output or stdout). --global explains a whole data set: the words that drive each label or
entity type, and the examples the model gets wrong with high confidence, each explained.

Methods (--method): ig (integrated gradients, Captum, default), grad-x-input, occlusion,
attention, random. Scores are attributions to the logit; ig reports its convergence delta.

\b
  cotune explain runs/rt-polarity "a gorgeous, witty, seductive movie"
  cotune explain runs/wnut16-ner "Obama visited Paris with Apple executives" --html obama.html
  cotune explain runs/rt-polarity --input reviews.txt --output explained.jsonl --faithfulness
  cotune explain runs/rt-polarity "dull and far too long" --label pos --method occlusion
  cotune explain runs/wnut16-ner --data wnut16 --split test --global --html wnut16-global.html
"""


@reports_errors
def explain(
    model: Path = typer.Argument(..., help="Artifact folder (PyTorch; ONNX graphs are refused)."),
    text: str | None = typer.Argument(None, help="A text to explain."),
    input_file: Path = typer.Option(
        None, "--input", "-i", help="A .jsonl / .csv / .txt file of texts to explain."
    ),
    method: str = typer.Option("ig", "--method", "-m", help="Attribution method."),
    label: list[str] = typer.Option(
        None,
        "--label",
        "-l",
        help="Explain this label (classification; repeatable; default: the predicted one) or "
        "only entities of this type (NER).",
    ),
    steps: int = typer.Option(50, "--steps", min=2, help="Integration steps of ig."),
    faithfulness: bool = typer.Option(
        False, "--faithfulness", help="Add ERASER comprehensiveness/sufficiency per target."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Write the JSON/JSONL here."),
    html: Path = typer.Option(None, "--html", help="HTML page (default: explain.html)."),
    png: Path = typer.Option(None, "--png", help="PNG figure (default: explain.png)."),
    no_files: bool = typer.Option(False, "--no-files", help="Print JSON only: no HTML, no PNG."),
    global_: bool = typer.Option(
        False, "--global", help="Explain a data set: top words per label/type, confident errors."
    ),
    data: str = typer.Option(
        None, "--data", help="--global: catalog name or file (default: the training data)."
    ),
    split: str = typer.Option("test", "--split", help="--global: train, dev or test."),
    limit: int = typer.Option(None, "--limit", min=1, help="--global: first N examples only."),
    top: int = typer.Option(20, "--top", min=1, help="--global: words per label or type."),
    errors: int = typer.Option(10, "--errors", min=0, help="--global: errors to explain."),
    min_count: int = typer.Option(
        2, "--min-count", min=1, help="--global: rank words seen at least this often."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    from cotune.errors import ConfigError
    from cotune.explain import Explainer, Options, load_explainable

    given = [text is not None, input_file is not None, global_]
    if sum(given) != 1:
        raise ConfigError(
            "give one of: a text, --input FILE, or --global",
            fix='cotune explain MODEL "a text" (or --input FILE, or --global --data NAME)',
        )
    if data is not None and not global_:
        raise ConfigError("--data is read only with --global", where="--data", fix="add --global")
    predictor = load_explainable(model)
    explainer = Explainer(predictor, method, Options(steps=steps))
    html_path = html or Path("explain-global.html" if global_ else "explain.html")
    png_path = png or Path("explain-global.png" if global_ else "explain.png")
    title = f"{model.name}: {explainer.method.name}"
    if global_:
        _explain_global(
            explainer,
            data,
            split,
            limit,
            top,
            errors,
            min_count,
            output,
            quiet,
            None if no_files else (html_path, png_path),
            title,
        )
        return
    texts = [text] if text is not None else _read_texts(input_file, predictor)
    records = [
        e.to_dict()
        for e in explainer.explain(
            texts, label, faithful=faithfulness, progress=progress_enabled(quiet)
        )
    ]
    if text is not None and output is None:
        print_json(records[0])
    else:
        _write_jsonl(records, output)
    if not no_files:
        from cotune.explain.render import write_html, write_png

        write_html(html_path, records, title)
        write_png(png_path, records, title)
        console.print(f"wrote {html_path} and {png_path}")


def _read_texts(path: Path, predictor: Any) -> list[str]:
    from cotune.errors import DataError
    from cotune.uses.predict import _read_inputs

    if not path.is_file():
        raise DataError(f"{path} is not a file", where="--input", fix="give an existing file")
    data_cfg = predictor.meta.config.get("data") or {}
    rows = _read_inputs(path, str(data_cfg.get("text_column") or "text"))
    if not rows:
        raise DataError(f"{path} holds no texts", where=str(path), fix="one text per row")
    return [str(r["text"]) if "text" in r else " ".join(r["tokens"]) for r in rows]


def _write_jsonl(records: list[dict[str, Any]], output: Path | None) -> None:
    import sys

    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if output is None:
        sys.stdout.write(lines)
        return
    from cotune.files import atomic_write_text

    atomic_write_text(output, lines)
    console.print(f"{len(records)} explanations written to {output}")


def _explain_global(
    explainer: Explainer,
    data: str | None,
    split: str,
    limit: int | None,
    top: int,
    errors: int,
    min_count: int,
    output: Path | None,
    quiet: bool,
    files: tuple[Path, Path] | None,
    title: str,
) -> None:
    from cotune.explain.global_explain import explain_dataset, load_examples

    name, examples = load_examples(explainer.predictor, data, split)
    examples = examples[:limit] if limit else examples
    report = {
        "data": name,
        **explain_dataset(
            explainer,
            examples,
            top=top,
            errors=errors,
            min_count=min_count,
            progress=progress_enabled(quiet),
        ),
    }
    if output:
        from cotune.files import atomic_write_text

        atomic_write_text(output, json.dumps(report, ensure_ascii=False, indent=2))
        console.print(f"report written to {output}")
    else:
        print_json(report)
    if files:
        from cotune.explain.render import global_html, write_global_png
        from cotune.files import atomic_write_text

        atomic_write_text(files[0], global_html(report, f"{title}, {name}"))
        write_global_png(files[1], report, f"{title}, {name}")
        console.print(f"wrote {files[0]} and {files[1]}")
