"""`cotune predict MODEL TEXT|FILE`"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cotune.cli.common import console, progress_enabled, reports_errors
from cotune.cli.options import build, option
from cotune.uses.options import PredictOptions

HELP = """Predict with an artifact on a text or a file.

A text prints JSON. A file (.jsonl with {"text": ...} or {"tokens": [...]} per line, a .csv with
a header and a "text" column, or a plain text file with one text per line) gives JSONL, to
--output or stdout. An interrupted file run continues where it stopped when run again with the
same --output; an --output holding anything else is refused, never appended to.

\b
  cotune predict runs/wnut16-full "Obama visited Paris with Apple executives"
  cotune predict runs/wnut16-full tweets.txt --output tags.jsonl --device cuda
  cotune predict runs/rt-polarity-full reviews.jsonl --output predictions.jsonl
  cotune predict runs/rt-polarity-full --input reviews.jsonl --output predictions.jsonl
  cotune predict runs/wnut16-full --onnx int8 "Obama visited Paris"   # after `cotune export`
"""


@reports_errors
def predict(
    model: Path = typer.Argument(..., help="Artifact folder."),
    inputs: str | None = typer.Argument(None, help="A text, or a .jsonl / .csv / .txt file."),
    input_file: Path = typer.Option(
        None, "--input", "-i", help="Input .jsonl / .csv / .txt file (instead of the argument)."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="JSONL output (files)."),
    batch_size: int = option(PredictOptions, "batch_size"),
    top_k: int = option(PredictOptions, "top_k"),
    quiet: bool = option(PredictOptions, "quiet", "-q"),
    onnx: str = option(PredictOptions, "onnx"),
    device: str = option(PredictOptions, "device"),
) -> None:
    from cotune.errors import ConfigError, DataError
    from cotune.export.runtime import load_predictor
    from cotune.uses.predict import predict_file, predict_texts

    opts = build(
        PredictOptions,
        {
            "batch_size": batch_size,
            "top_k": top_k,
            "quiet": quiet,
            "onnx": onnx,
            "device": device,
        },
        "predict",
    )
    if (inputs is None) == (input_file is None):
        raise ConfigError(
            "give one input: a text or file argument, or --input FILE",
            fix="cotune predict MODEL FILE --output OUT.jsonl (or --input FILE)",
        )
    if input_file is not None:
        if not input_file.is_file():
            raise DataError(f"{input_file} is not a file", where="--input")
        inputs = str(input_file)
    assert inputs is not None
    path = Path(inputs)
    if not _names_a_file(inputs) and _looks_like_a_path(inputs):
        raise DataError(
            f"no such file: {inputs}",
            where="the input argument",
            fix="check the path (a text to predict holds a space or lacks a file suffix)",
        )
    predictor = load_predictor(model, opts.onnx).to(opts.device)
    if _names_a_file(inputs):
        n = predict_file(
            predictor,
            path,
            output,
            batch_size=opts.batch_size,
            top_k=opts.top_k,
            progress=progress_enabled(opts.quiet),
        )
        if output:
            console.print(f"{n} predictions written to {output}")
        return
    print(
        json.dumps(
            predict_texts(predictor, [inputs], top_k=opts.top_k)[0], ensure_ascii=False, indent=2
        )
    )


def _names_a_file(arg: str) -> bool:
    """Whether the argument is an existing file; a text too long for a file name is a text."""
    try:
        return Path(arg).is_file()
    except (OSError, ValueError):
        return False


def _looks_like_a_path(arg: str) -> bool:
    """One word ending in an input file suffix, e.g. a mistyped `reviews.jsonl`."""
    return len(arg.split()) == 1 and Path(arg).suffix.lower() in (".jsonl", ".json", ".txt", ".csv")
