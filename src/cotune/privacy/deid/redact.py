"""Redact a file and re-identify it: the library behind `cotune redact` / `cotune reidentify`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from cotune.data.formats import read_text
from cotune.errors import DataError
from cotune.files import atomic_write_text
from cotune.privacy.deid import edits as ed
from cotune.privacy.deid import formats as fm
from cotune.privacy.deid.engine import PiiDetector
from cotune.privacy.deid.names import DEFAULT_LABEL_MAP
from cotune.privacy.deid.pseudonymize import Policy, Pseudonymizer
from cotune.privacy.deid.report import build_report, write_report
from cotune.privacy.deid.vault import Vault

R = TypeVar("R")


def _read(path: Path) -> str:
    if not path.is_file():
        raise DataError("no such file", where=str(path), fix="check the path")
    return read_text(path)


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Errors about a line ("line 7") name the file too: "train.jsonl:7"."""
    try:
        yield
    except DataError as e:
        if e.where is None or not e.where.startswith("line "):
            raise
        raise DataError(e.what, where=f"{path}:{e.where[5:]}", fix=e.fix) from None


def _format(path: Path, text: str, fmt: str) -> str:
    if fmt == "auto":
        return fm.sniff_format(path, text)
    if fmt not in fm.FORMATS:
        raise DataError(
            f"unknown format {fmt!r}", where="--format", fix=f"use auto or one of {fm.FORMATS}"
        )
    return fmt


def redact_file(
    input_path: Path,
    output_path: Path,
    detector: PiiDetector,
    *,
    fmt: str = "auto",
    policies: Mapping[str, Policy] | None = None,
    vault: Vault | None = None,
    columns: Sequence[str] | None = None,
    use_tags: bool = True,
    label_map: Mapping[str, str] | None = None,
    report_path: Path | None = None,
    sample_size: int = 20,
    include_originals: bool = False,
) -> dict[str, Any]:
    """Detect and replace PII in `input_path`, write `output_path`; returns the report.

    With a vault, the mapping (and the exact per-file record) is added to it and saved before
    the output is written, so no redacted file exists that its vault cannot restore.
    """
    for other, what in ((output_path, "the output"), (report_path, "the report")):
        if other is not None:
            refuse_same_file(input_path, other, what)
    if vault is not None:
        for other in (input_path, output_path):
            refuse_same_file(other, vault.path, "the vault")
    src = _read(input_path)
    kind = _format(input_path, src, fmt)
    pz = Pseudonymizer(policies, state=vault.pseudonymizer if vault else None)
    ctx = fm.Context(
        detector.detect_batch,
        pz,
        label_map=(label_map or DEFAULT_LABEL_MAP) if use_tags else None,
        columns=frozenset(columns) if columns else None,
    )
    with _naming(input_path):
        redacted = fm.REDACTORS[kind](src, ctx)
    digest = hashlib.sha256(redacted.text.encode("utf-8")).hexdigest()
    if vault is not None:
        vault.pseudonymizer = pz.state()
        vault.files[digest] = {
            "input": str(input_path),
            "output": str(output_path),
            "format": kind,
            "record": redacted.record,
        }
        vault.save()
    atomic_write_text(output_path, redacted.text)
    meta = {
        "input": str(input_path),
        "output": str(output_path),
        "format": kind,
        "output_sha256": digest,
        "vault": str(vault.path) if vault else None,
        "names": detector.describe_names(),
    }
    report = build_report(
        redacted, pz, meta=meta, sample_size=sample_size, include_originals=include_originals
    )
    if report_path is not None:
        write_report(report, report_path)
    return report


def reidentify_file(
    input_path: Path, output_path: Path, vault: Vault, *, fmt: str = "auto"
) -> dict[str, Any]:
    """Put the originals back. A file the vault recorded (same bytes) is restored exactly;
    any other text (edited data, model output) gets every known pseudonym/surrogate replaced."""
    refuse_same_file(input_path, output_path, "the output")
    refuse_same_file(vault.path, output_path, "the output")
    src = _read(input_path)
    digest = hashlib.sha256(src.encode("utf-8")).hexdigest()
    entry = vault.files.get(digest)
    if entry is not None:
        text = fm.RESTORERS[entry["format"]](src, entry["record"])
        summary = {
            "mode": "exact",
            "format": entry["format"],
            "units_restored": len(entry["record"]),
        }
    else:
        kind = _format(input_path, src, fmt)
        with _naming(input_path):
            text, n = remap(kind, src, vault.originals())
        summary = {"mode": "mapping", "format": kind, "replacements": n}
    atomic_write_text(output_path, text)
    return {"input": str(input_path), "output": str(output_path), **summary}


def _expand_rows(
    rows: Sequence[R],
    token_of: Callable[[R], str],
    tag_of: Callable[[R], str | None],
    make_row: Callable[[R, str | None, str | None], R],
    originals: Mapping[str, str],
) -> tuple[list[R], int]:
    """Token data: a token holding a pseudonym becomes the original's tokens (tags continued)."""
    out: list[R] = []
    count = 0
    for row in rows:
        new, n = ed.restore_by_mapping(token_of(row), originals)
        if not n:
            out.append(row)
            continue
        count += n
        tag = tag_of(row)
        cont = "I-" + tag[2:] if tag and tag[:2] in ("B-", "I-") else tag
        for k, tok in enumerate(new.split() or [new]):
            out.append(make_row(row, tok, tag if k == 0 else cont))
    return out, count


def remap(kind: str, src: str, originals: Mapping[str, str]) -> tuple[str, int]:
    """Mapping-based re-identification of a whole file of format `kind`."""
    if kind == "text":
        return ed.restore_by_mapping(src, originals)
    if kind == "csv":
        rows, newline = fm.read_csv_rows(src)
        count = 0
        for row in rows[1:]:
            for j, cell in enumerate(row):
                row[j], n = ed.restore_by_mapping(cell, originals)
                count += n
        return fm.write_csv_rows(rows, newline), count
    if kind == "conll":
        lines = src.splitlines(keepends=True)
        sentences = fm.conll_sentences(lines)
        count = 0
        new_lines: dict[int, list[str]] = {}
        for sent in sentences:
            new_lines[sent[0]], n = _expand_rows(
                [lines[k] for k in sent],
                lambda ln: fm.conll_cells(ln)[0],
                lambda ln: fm.conll_cells(ln)[-1] if len(fm.conll_cells(ln)) > 1 else None,
                fm.conll_line,
                originals,
            )
            count += n
        return fm.rebuild_lines(lines, sentences, new_lines), count
    bodies, ends, rows_ = fm.parse_jsonl(src)
    count = 0
    for k, row in enumerate(rows_):
        if not isinstance(row, dict):
            continue
        before = count
        for key, value in row.items():
            if isinstance(value, str):
                row[key], n = ed.restore_by_mapping(value, originals)
                count += n
        tf = fm.token_fields(row)
        if tf:
            keys = ["tokens", *tf[2], *([tf[1]] if tf[1] else [])]
            cells = [fm.cells_of(row, keys, i) for i in range(len(tf[0]))]
            tag_of: Callable[[list[Any]], str | None] = (
                (lambda c: str(c[-1])) if tf[1] is not None else (lambda c: None)
            )
            new_cells, n = _expand_rows(
                cells,
                lambda c: str(c[0]),
                tag_of,
                fm.cell_row,
                originals,
            )
            for j, key in enumerate(keys):
                row[key] = [c[j] for c in new_cells]
            count += n
        if count > before:
            bodies[k] = json.dumps(row, ensure_ascii=False)
    return "".join(b + e for b, e in zip(bodies, ends, strict=True)), count


def refuse_same_file(source: Path, target: Path, what: str) -> None:
    """Redaction must never overwrite its own input (or the vault with data, etc.)."""
    if target.exists() and source.exists() and source.resolve() == target.resolve():
        raise DataError(
            f"{what} would overwrite {source}",
            where=str(target),
            fix="write to a different file",
        )
