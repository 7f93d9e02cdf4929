"""Readers for the standard on-disk formats: CoNLL columns, JSONL and CSV.

Every reader reports problems with the file and line (or row) and a fix, and never returns a
half-read corpus. The row parsers (`json_rows`, `csv_records`) are the one way every reader in
cotune parses lines: labelled data here, texts to predict (`uses.predict`), files to de-identify
(`privacy.deid`) and the applications' inputs.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cotune.data.examples import TextExample, TokenExample
from cotune.data.tagging import check_tag
from cotune.errors import DataError


def read_text(path: Path) -> str:
    """Read a UTF-8 file (BOM tolerated) or fail naming the byte offset and line."""
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError("the file is empty", where=str(path), fix="point at a file with data")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"byte {raw[e.start : e.start + 1]!r} at offset {e.start} is not UTF-8",
            where=f"{path}:{line}",
            fix="re-encode the file as UTF-8 (e.g. `iconv -f GB18030 -t UTF-8`)",
        ) from None


def text_lines(text: str) -> list[str]:
    """Lines split at \\n, \\r\\n or \\r only. `str.splitlines` also splits at U+2028, U+0085,
    \\x0c and other separators, which may sit inside a tweet's token or a JSON string."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


CSV_QUOTING_FIX = (
    "give every row one cell per column, and quote a cell holding commas, quotes or line breaks "
    '("great, really")'
)


def where_of(source: str, lineno: int) -> str:
    return f"{source}:{lineno}" if source else f"line {lineno}"


def json_rows(
    lines: Sequence[str] | str,
    source: str = "",
    *,
    fix: str = "write one JSON object per line",
    objects: bool = True,
) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; `objects` refuses non-objects.

    `lines` is the file's text (split at \\n, \\r\\n and \\r only) or its lines already split.
    """
    for lineno, line in enumerate(text_lines(lines) if isinstance(lines, str) else lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"not valid JSON ({e.msg} at column {e.colno})",
                where=where_of(source, lineno),
                fix=fix,
            ) from None
        if objects and not isinstance(value, dict):
            raise DataError(
                f"each line must be a JSON object, not {type(value).__name__}",
                where=where_of(source, lineno),
                fix=fix,
            )
        yield lineno, value


def csv_records(
    text: str, source: str = ""
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header, and (line number, row) for each row under it: a row with more or fewer cells
    than the header is refused (an unquoted comma would shift every later column)."""
    reader = csv.DictReader(io.StringIO(text))
    header = list(reader.fieldnames or [])

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for rowno, row in enumerate(reader, start=2):
            lineno = reader.line_num or rowno
            if None in row or None in row.values():  # more (restkey None) or fewer cells
                n = len(header) + len(row.get(None) or []) - list(row.values()).count(None)
                raise DataError(
                    f"{n} cell(s) but the header has {len(header)} columns {header}",
                    where=where_of(source, lineno),
                    fix=CSV_QUOTING_FIX,
                )
            yield lineno, row

    return header, rows()


def require_columns(header: Sequence[str], columns: Sequence[str], source: str, fix: str) -> None:
    for column in columns:
        if column not in header:
            raise DataError(
                f"no column {column!r}; the header has {list(header)}",
                where=where_of(source, 1),
                fix=fix,
            )


def read_conll(
    path: Path, *, token_column: int = 0, tag_column: int = -1, sep: str | None = None
) -> list[TokenExample]:
    """CoNLL-style columns: one token per line, blank line (or a lone tab) between sentences.

    Columns are split on `sep` (None: tabs where the line has one, else any whitespace run).
    `-DOCSTART-` lines are document markers and are skipped.
    """
    text = read_text(path)
    sentences: list[TokenExample] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    columns: tuple[int, int] | None = None  # (count, line) of the first token line
    for lineno, line in enumerate(text_lines(text), start=1):
        # Tab-separated lines split on tabs only (a token may hold other whitespace);
        # otherwise on any whitespace run (space-separated CoNLL files).
        cells = line.split(sep or "\t") if (sep or "\t" in line) else line.split()
        if not cells or all(not c.strip() for c in cells):
            if tokens:
                sentences.append(TokenExample(tokens, tags, f"{path}:{start}"))
                tokens, tags = [], []
            continue
        if cells[0] == "-DOCSTART-":
            continue
        where = f"{path}:{lineno}"
        if len(cells) < 2:
            raise DataError(
                f"expected a token and a tag, found {len(cells)} column(s): {line!r}",
                where=where,
                fix="write `token<TAB>tag` on every line, a blank line between sentences",
            )
        columns = columns or (len(cells), lineno)
        if len(cells) != columns[0]:
            raise DataError(
                f"{len(cells)} columns, but line {columns[1]} has {columns[0]}: {line!r}",
                where=where,
                fix="give every line the same columns (token first, tag last); a token holding "
                "spaces needs tab-separated columns",
            )
        token, tag = cells[token_column].strip(), cells[tag_column].strip()
        check_tag(tag, where)
        if not tokens:
            start = lineno
        tokens.append(token)
        tags.append(tag)
    if tokens:
        sentences.append(TokenExample(tokens, tags, f"{path}:{start}"))
    if not sentences:
        raise DataError("no sentences found", where=str(path), fix="check the file's format")
    return sentences


def read_jsonl(path: Path, *, text_field: str = "text") -> list[TokenExample] | list[TextExample]:
    """JSON Lines: `{"tokens": [...], "tags": [...]}` or `{"text": ..., "label"|"labels": ...}`."""
    text = read_text(path)
    token_rows: list[TokenExample] = []
    text_rows: list[TextExample] = []
    for lineno, row in json_rows(text, str(path), fix="one object a line"):
        where = f"{path}:{lineno}"
        if "tokens" in row:
            toks, tags = row.get("tokens"), row.get("tags", row.get("ner_tags"))
            if not isinstance(toks, list) or not isinstance(tags, list):
                raise DataError(
                    '"tokens" and "tags" must both be lists', where=where, fix='add "tags": [...]'
                )
            if len(toks) != len(tags):
                raise DataError(
                    f"{len(toks)} tokens but {len(tags)} tags",
                    where=where,
                    fix="give exactly one tag per token",
                )
            for tag in tags:
                check_tag(str(tag), where)
            token_rows.append(TokenExample([str(t) for t in toks], [str(t) for t in tags], where))
        elif text_field in row:
            labels = row.get("labels", row.get("label"))
            if labels is None:
                raise DataError(
                    f'a {text_field!r} row needs "label" (or "labels" for multi-label)',
                    where=where,
                )
            if not isinstance(row[text_field], str):
                raise DataError(
                    f"{text_field!r} must be a string, not {row[text_field]!r}",
                    where=where,
                    fix=f'write {{"{text_field}": "...", "label": ...}}',
                )
            labels = labels if isinstance(labels, list) else [labels]
            text_rows.append(TextExample(str(row[text_field]), [str(x) for x in labels], where))
        else:
            raise DataError(
                f"row has neither 'tokens' nor {text_field!r}: keys {sorted(row)}",
                where=where,
                fix='use {"tokens": [...], "tags": [...]} or {"text": ..., "label": ...}',
            )
        if token_rows and text_rows:
            raise DataError(
                "the file mixes token rows and text rows", where=where, fix="use one kind per file"
            )
    rows = token_rows or text_rows
    if not rows:
        raise DataError("no rows found", where=str(path), fix="check the file's format")
    return rows


def read_csv(
    path: Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    label_separator: str | None = None,
) -> list[TextExample]:
    """CSV with a header row. `label_separator` splits a multi-label cell (e.g. '|')."""
    text = read_text(path)
    header, records = csv_records(text, str(path))
    require_columns(
        header,
        (text_column, label_column),
        str(path),
        fix="set data.text_column / data.label_column to the right names",
    )
    rows: list[TextExample] = []
    for lineno, row in records:
        where = f"{path}:{lineno}"
        label = (row.get(label_column) or "").strip()
        if not label:
            raise DataError(f"empty {label_column!r}", where=where, fix="give every row a label")
        labels = [x.strip() for x in label.split(label_separator)] if label_separator else [label]
        rows.append(TextExample(row.get(text_column) or "", labels, where))
    if not rows:
        raise DataError("no rows found under the header", where=str(path))
    return rows
