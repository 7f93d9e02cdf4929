"""Predictions as plain JSON-able dicts, for texts and (resumably) for files."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from cotune.artifact import Predictor
from cotune.data.examples import TokenExample
from cotune.data.formats import csv_records, json_rows, read_text, text_lines
from cotune.errors import DataError
from cotune.training.progress import make_progress


def as_dict(text: str, prediction: Any, top_k: int | None = None) -> dict[str, Any]:
    if isinstance(prediction, list):  # entities
        return {"text": text, "entities": [e.to_dict() for e in prediction]}
    probs = (
        prediction.top(top_k) if top_k else sorted(prediction.probs.items(), key=lambda kv: -kv[1])
    )
    return {
        "text": text,
        "label": prediction.labels[0] if len(prediction.labels) == 1 else None,
        "labels": prediction.labels,
        "scores": {k: round(v, 6) for k, v in probs},
    }


def predict_texts(
    predictor: Predictor, texts: Sequence[str], *, top_k: int | None = None, batch_size: int = 32
) -> list[dict[str, Any]]:
    preds = predictor.predict_text(texts, batch_size)
    return [as_dict(t, p, top_k) for t, p in zip(texts, preds, strict=True)]


def _read_inputs(path: Path, text_column: str = "text") -> list[dict[str, Any]]:
    """JSONL rows with "text" or "tokens", CSV rows with a text column, or plain text lines."""
    text = read_text(path)
    if path.suffix.lower() == ".csv":
        return _read_csv_inputs(path, text, text_column)
    if path.suffix.lower() not in (".jsonl", ".json"):
        return [{"text": line} for line in text_lines(text) if line.strip()]
    fix = 'write one JSON object per line: {"text": "..."}'
    rows = []
    for lineno, row in json_rows(text, str(path), fix=fix, objects=False):
        _check_input_row(row, f"{path}:{lineno}")
        rows.append(row)
    return rows


def _check_input_row(row: Any, where: str) -> None:
    """A row to predict holds "text" (a string) or "tokens" (a list of strings)."""
    fix = 'write {"text": "..."} or {"tokens": ["...", ...]} per line'
    if not isinstance(row, dict) or not ("text" in row or "tokens" in row):
        got = f"keys {sorted(row)}" if isinstance(row, dict) else f"a JSON {type(row).__name__}"
        raise DataError(f'each line needs "text" or "tokens", found {got}', where=where, fix=fix)
    if "text" in row and not isinstance(row["text"], str):
        raise DataError(f'"text" must be a string, not {row["text"]!r}', where=where, fix=fix)
    tokens = row.get("tokens", [])
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise DataError(f'"tokens" must be a list of strings, not {tokens!r}', where=where, fix=fix)


def _read_csv_inputs(path: Path, text: str, text_column: str) -> list[dict[str, Any]]:
    """CSV rows (header first); the text column is "text" or the one the model was trained on."""
    header, records = csv_records(text, str(path))
    column = next((c for c in ("text", text_column) if c in header), None)
    if column is None:
        raise DataError(
            f"no column 'text' (nor {text_column!r}); the header has {header}",
            where=f"{path}:1",
            fix="name the column holding the texts 'text'",
        )
    rows = []
    for _, row in records:
        rows.append({**{k: v for k, v in row.items() if k != column}, "text": row[column]})
    return rows


def _batches(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for b in range(0, len(rows), size):
        yield rows[b : b + size]


def _row_text(row: dict[str, Any]) -> str:
    return str(row["text"]) if "text" in row else " ".join(row["tokens"])


def _is_prediction_of(line: str, row: dict[str, Any]) -> bool:
    try:
        out = json.loads(line)
    except json.JSONDecodeError:
        return False
    if not isinstance(out, dict):
        return False
    if "tags" in out:
        return bool(out.get("tokens") == row.get("tokens"))
    return ("entities" in out or "labels" in out) and out.get("text") == _row_text(row)


def _done_lines(output: Path, path: Path, rows: list[dict[str, Any]]) -> int:
    """Lines an interrupted run already wrote to `output`, each checked to be the prediction of
    its row; a torn last line is cut off. A file holding anything else is left untouched."""
    if not output.exists():
        return 0
    fix = "give a new --output file (or delete this one to start over)"
    if output.is_dir():
        raise DataError("--output is a folder", where=str(output), fix="give a file path")
    if output.samefile(path):
        raise DataError(
            "--output is the input file: predicting would overwrite it", where=str(output), fix=fix
        )
    data = output.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    torn = data[len(keep) :]
    lines = keep.decode("utf-8", errors="replace").split("\n")[:-1]
    if len(lines) > len(rows):
        raise DataError(
            f"{output} has {len(lines)} lines but {path} only {len(rows)} rows",
            where=str(output),
            fix=fix,
        )
    for k, (line, row) in enumerate(zip(lines, rows, strict=False), start=1):
        if not _is_prediction_of(line, row):
            raise DataError(
                f"line {k} is not the prediction of row {k} of {path}, so this is not an "
                "interrupted run to continue",
                where=f"{output}:{k}",
                fix=fix,
            )
    if torn and not torn.startswith(b"{"):
        raise DataError(
            "the file does not end with a complete prediction line", where=str(output), fix=fix
        )
    if torn:
        output.write_bytes(keep)
    return len(lines)


def predict_file(
    predictor: Predictor,
    path: Path,
    output: Path | None,
    *,
    batch_size: int = 32,
    top_k: int | None = None,
    progress: bool | None = None,
) -> int:
    """Predict every row of `path` into `output` (JSONL), continuing an interrupted run."""
    import sys

    data_cfg = predictor.meta.config.get("data") or {}
    rows = _read_inputs(path, str(data_cfg.get("text_column") or "text"))
    done = _done_lines(output, path, rows) if output else 0
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
    sink: TextIO = output.open("a", encoding="utf-8") if output else sys.stdout
    bar = make_progress(progress and output is not None)
    try:
        with bar:
            task = bar.add_task("predict", total=len(rows), completed=done, info="")
            for batch in _batches(rows[done:], batch_size):
                for row, result in zip(batch, _predict_rows(predictor, batch, top_k), strict=True):
                    out = {
                        **{k: v for k, v in row.items() if k not in ("text", "tokens")},
                        **result,
                    }
                    sink.write(json.dumps(out, ensure_ascii=False) + "\n")
                sink.flush()
                bar.advance(task, len(batch))
    finally:
        if output:
            sink.close()
    return len(rows)


def _predict_rows(
    predictor: Predictor, rows: list[dict[str, Any]], top_k: int | None
) -> list[dict[str, Any]]:
    """Row by row: "tokens" rows of an NER model give tags per token, the rest predict on text,
    whatever other rows share the batch."""
    ner = predictor.meta.task == "token-classification"
    as_tokens = [k for k, r in enumerate(rows) if ner and "tokens" in r]
    as_text = [k for k, r in enumerate(rows) if not (ner and "tokens" in r)]
    out: list[dict[str, Any]] = [{} for _ in rows]
    if as_tokens:
        examples = [
            TokenExample(rows[k]["tokens"], ["O"] * len(rows[k]["tokens"])) for k in as_tokens
        ]
        for k, ex, p in zip(as_tokens, examples, predictor.predict(examples), strict=True):
            out[k] = {
                "tokens": ex.tokens,
                "tags": p.tags,
                "scores": [round(x, 6) for x in p.scores],
            }
    if as_text:
        texts = [_row_text(rows[k]) for k in as_text]
        for k, result in zip(as_text, predict_texts(predictor, texts, top_k=top_k), strict=True):
            out[k] = result
    return out
