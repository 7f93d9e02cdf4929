"""Predictions as plain JSON-able dicts, for texts and (resumably) for files."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from cotune.artifact import Predictor
from cotune.data.examples import TokenExample
from cotune.data.formats import read_text
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


def _read_inputs(path: Path) -> list[dict[str, Any]]:
    """JSONL rows with "text" or "tokens", or plain text lines."""
    text = read_text(path)
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix.lower() in (".jsonl", ".json"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"not valid JSON: {e.msg}", where=f"{path}:{lineno}") from None
            if not isinstance(row, dict) or not ("text" in row or "tokens" in row):
                raise DataError(
                    'each line needs "text" (a string) or "tokens" (a list)',
                    where=f"{path}:{lineno}",
                    fix='write {"text": "..."} per line',
                )
            rows.append(row)
        else:
            rows.append({"text": line})
    return rows


def _batches(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for b in range(0, len(rows), size):
        yield rows[b : b + size]


def _done_lines(output: Path) -> int:
    """Complete lines already in an output file; a torn last line is cut off."""
    if not output.exists():
        return 0
    data = output.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        output.write_bytes(keep)
    return keep.count(b"\n")


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

    rows = _read_inputs(path)
    done = _done_lines(output) if output else 0
    if done > len(rows):
        raise DataError(
            f"{output} has {done} lines but {path} only {len(rows)} rows",
            where=str(output),
            fix="use a fresh --output file",
        )
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
    if all("tokens" in r for r in rows) and predictor.meta.task == "token-classification":
        examples = [
            TokenExample([str(t) for t in r["tokens"]], ["O"] * len(r["tokens"])) for r in rows
        ]
        preds = predictor.predict(examples)
        return [
            {"tokens": ex.tokens, "tags": p.tags, "scores": [round(s, 6) for s in p.scores]}
            for ex, p in zip(examples, preds, strict=True)
        ]
    texts = [str(r.get("text", " ".join(map(str, r.get("tokens", []))))) for r in rows]
    return predict_texts(predictor, texts, top_k=top_k)
