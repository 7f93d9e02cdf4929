"""Redaction and restoration per file format: plain text, CoNLL columns, JSONL and CSV.

Each format reads its units (a line, a sentence, a field, a cell), asks the detector about all
of them in batches, rewrites them, and keeps a record per unit for exact restoration. Lines and
sentences the redaction did not touch are written back byte for byte. Restoration of plain text
and CoNLL is byte-exact; JSONL rows and CSV files that were touched are re-serialised, so they
come back equal as data (same objects, same cells), not necessarily byte for byte.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cotune.data.formats import json_rows
from cotune.errors import DataError
from cotune.privacy.deid import edits as ed
from cotune.privacy.deid.pseudonymize import Pseudonymizer
from cotune.privacy.deid.spans import PiiSpan, resolve_overlaps

Format = Literal["text", "conll", "jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("text", "conll", "jsonl", "csv")
# Fields and columns that hold labels or ids, not free text: never rewritten unless asked for.
NOT_TEXT_FIELDS = frozenset(
    ["label", "labels", "tag", "tags", "ner_tags", "id", "uid", "guid", "split", "lang", "language"]
)
DetectBatch = Callable[[Sequence[str]], list[list[PiiSpan]]]


@dataclass
class Context:
    detect_batch: DetectBatch
    pz: Pseudonymizer
    label_map: Mapping[str, str] | None = None  # gold tags of these labels are PII; None: ignore
    columns: frozenset[str] | None = None  # JSONL fields / CSV columns to redact; None: all text


@dataclass
class Redacted:
    text: str
    record: dict[str, list[Any]] = field(default_factory=dict)
    changes: list[ed.Change] = field(default_factory=list)
    samples: dict[str, str] = field(default_factory=dict)  # unit -> redacted text, for review
    units: int = 0


def sniff_format(path: Path, text: str) -> Format:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix in (".conll", ".conllu", ".bio", ".iob", ".iob2", ".bioes", ".tsv"):
        return "conll"
    lines = [ln for ln in text.splitlines()[:200] if ln.strip()]
    tagged = sum(1 for ln in lines if len(ln.split()) >= 2 and _looks_like_tag(ln.split()[-1]))
    return "conll" if lines and tagged >= 0.9 * len(lines) else "text"


def _looks_like_tag(cell: str) -> bool:
    return cell == "O" or (len(cell) > 2 and cell[:2] in ("B-", "I-", "E-", "S-"))


def _detect_all(ctx: Context, texts: Sequence[str], batch: int = 256) -> list[list[PiiSpan]]:
    out: list[list[PiiSpan]] = []
    for k in range(0, len(texts), batch):
        out.extend(ctx.detect_batch(texts[k : k + batch]))
    return out


def _wanted(ctx: Context, name: str) -> bool:
    return name in ctx.columns if ctx.columns is not None else name.lower() not in NOT_TEXT_FIELDS


# ---------------------------------------------------------------- plain text: a unit per line


def split_lines(src: str) -> tuple[list[str], list[str]]:
    lines = src.splitlines(keepends=True)
    bodies = [ln.rstrip("\r\n") for ln in lines]
    return bodies, [ln[len(b) :] for ln, b in zip(lines, bodies, strict=True)]


def redact_plain(src: str, ctx: Context) -> Redacted:
    bodies, ends = split_lines(src)
    out = Redacted("", units=len(bodies))
    for k, (body, spans) in enumerate(zip(bodies, _detect_all(ctx, bodies), strict=True)):
        if spans:
            unit = str(k + 1)
            bodies[k], out.record[unit], changes = ed.redact_text(body, spans, ctx.pz, unit)
            out.changes += changes
            out.samples[unit] = bodies[k]
    out.text = "".join(b + e for b, e in zip(bodies, ends, strict=True))
    return out


def restore_plain(src: str, record: Mapping[str, list[Any]]) -> str:
    bodies, ends = split_lines(src)
    for unit, rec in record.items():
        k = int(unit) - 1
        restored = ed.restore_text(bodies[k], rec) if k < len(bodies) else None
        if restored is None:
            raise DataError(f"line {unit} no longer matches the vault's record", where="restore")
        bodies[k] = restored
    return "".join(b + e for b, e in zip(bodies, ends, strict=True))


# ---------------------------------------------------------------- CoNLL: a unit per sentence


def conll_cells(line: str) -> list[str]:
    body = line.rstrip("\r\n")
    return body.split("\t") if "\t" in body else body.split()


def conll_sentences(lines: Sequence[str]) -> list[list[int]]:
    """Line indices of each sentence (blank / lone-tab lines and -DOCSTART- separate them)."""
    out: list[list[int]] = []
    cur: list[int] = []
    for k, line in enumerate(lines):
        cells = conll_cells(line)
        if not any(c.strip() for c in cells) or cells[0] == "-DOCSTART-":
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(k)
    if cur:
        out.append(cur)
    return out


def conll_line(template: str, token: str | None, tag: str | None) -> str:
    body = template.rstrip("\r\n")
    sep = "\t" if "\t" in body else " "
    cells = conll_cells(template)
    if token is not None:
        cells[0] = token
    if tag is not None and len(cells) > 1:
        cells[-1] = tag
    return sep.join(cells) + template[len(body) :]


def _check_columns(sent: Sequence[int], rows: Sequence[Sequence[str]]) -> None:
    """A sentence whose lines disagree on columns has a tag missing (or a token split in two):
    its gold tags would be ignored and the rewrite would shift them, so stop and say where."""
    want = len(rows[0])
    for k, row in zip(sent, rows, strict=True):
        if len(row) != want:
            raise DataError(
                f"{len(row)} column(s) where the sentence's first line (line {sent[0] + 1}) has "
                f"{want}",
                where=f"line {k + 1}",
                fix="give every token line the same columns (token ... tag), tab- or "
                "space-separated",
            )


def redact_conll(src: str, ctx: Context) -> Redacted:
    lines = src.splitlines(keepends=True)
    sentences = conll_sentences(lines)
    rows = [[conll_cells(lines[k]) for k in sent] for sent in sentences]
    for sent, sent_rows in zip(sentences, rows, strict=True):
        _check_columns(sent, sent_rows)
    tokens = [[r[0] for r in sent] for sent in rows]
    tags = [[r[-1] for r in sent] if all(len(r) > 1 for r in sent) else None for sent in rows]
    texts = [ed.join_tokens(t) for t in tokens]
    detected = _detect_all(ctx, [t for t, _ in texts])
    out = Redacted("", units=len(sentences))
    new_lines: dict[int, list[str]] = {}  # first line index of a sentence -> its new lines
    for n, sent in enumerate(sentences):
        (text, offsets), spans, sent_tags = texts[n], detected[n], tags[n]
        if ctx.label_map is not None and sent_tags is not None:
            spans = resolve_overlaps(
                [*spans, *ed.tag_spans(text, offsets, sent_tags, ctx.label_map)]
            )
        if not spans:
            continue
        unit = str(n)
        plan = ed.plan_token_edits(tokens[n], sent_tags, spans, ctx.pz, unit, offsets)
        sent_lines, out.record[unit] = ed.rewrite_rows([lines[k] for k in sent], plan, conll_line)
        new_lines[sent[0]] = sent_lines
        out.changes += [e.change for e in plan]
        out.samples[unit] = ed.join_tokens([conll_cells(ln)[0] for ln in sent_lines])[0]
    out.text = rebuild_lines(lines, sentences, new_lines)
    return out


def rebuild_lines(
    lines: Sequence[str], sentences: Sequence[Sequence[int]], new: Mapping[int, list[str]]
) -> str:
    in_sentence = {k: sent[0] for sent in sentences for k in sent}
    parts: list[str] = []
    for k, line in enumerate(lines):
        first = in_sentence.get(k)
        if first is None or first not in new:
            parts.append(line)
        elif k == first:
            parts.extend(new[first])
    return "".join(parts)


def restore_conll(src: str, record: Mapping[str, list[Any]]) -> str:
    lines = src.splitlines(keepends=True)
    sentences = conll_sentences(lines)
    new_lines: dict[int, list[str]] = {}
    for unit, rec in record.items():
        n = int(unit)
        try:
            new_lines[sentences[n][0]] = ed.restore_rows([lines[k] for k in sentences[n]], rec)
        except (IndexError, ValueError):
            raise DataError(
                f"sentence {n} does not match the vault's record", where="restore"
            ) from None
    return rebuild_lines(lines, sentences, new_lines)


# ---------------------------------------------------------------- JSONL: units are fields


def token_fields(row: Mapping[str, Any]) -> tuple[list[str], str | None, list[str]] | None:
    """(tokens, tag field, other per-token fields) of a token row, else None."""
    toks = row.get("tokens")
    if not isinstance(toks, list) or not all(isinstance(t, str) for t in toks):
        return None
    tag_key = next(
        (
            k
            for k in ("tags", "ner_tags")
            if isinstance(row.get(k), list) and len(row[k]) == len(toks)
        ),
        None,
    )
    aligned = [
        k
        for k, v in row.items()
        if k not in ("tokens", tag_key) and isinstance(v, list) and len(v) == len(toks)
    ]
    return toks, tag_key, aligned


def cells_of(row: Mapping[str, Any], keys: Sequence[str], k: int) -> list[Any]:
    return [row[key][k] for key in keys]


def cell_row(template: list[Any], token: str | None, tag: str | None) -> list[Any]:
    # cells: [token, *aligned values, tag?]; the tag sits last only when the row has tags.
    new = list(template)
    if token is not None:
        new[0] = token
    if tag is not None:
        new[-1] = tag
    return new


def parse_jsonl(src: str) -> tuple[list[str], list[str], list[Any]]:
    bodies, ends = split_lines(src)
    rows: list[Any] = [None] * len(bodies)  # None: a blank line
    fix = "one JSON object a line (or pass --format text)"
    for lineno, row in json_rows(bodies, fix=fix, objects=False):
        rows[lineno - 1] = row
    return bodies, ends, rows


def redact_jsonl(src: str, ctx: Context) -> Redacted:
    bodies, ends, rows = parse_jsonl(src)
    units: list[tuple[int, str]] = []  # (line, field): text fields, and "tokens" for token rows
    texts: list[str] = []
    for k, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        tf = token_fields(row)
        for name in ("tags", "ner_tags"):
            given = row.get(name)
            if tf and isinstance(given, list) and len(given) != len(tf[0]):
                raise DataError(
                    f"{len(tf[0])} tokens but {len(given)} {name}",
                    where=f"line {k + 1}",
                    fix=f"give every token one tag (the lists 'tokens' and {name!r} align)",
                )
        if tf and _wanted(ctx, "tokens"):
            units.append((k, "tokens"))
            texts.append(ed.join_tokens(tf[0])[0])
        for key, value in row.items():
            if isinstance(value, str) and _wanted(ctx, key):
                units.append((k, key))
                texts.append(value)
    out = Redacted("", units=len(units))
    touched: set[int] = set()
    for (k, key), text, spans in zip(units, texts, _detect_all(ctx, texts), strict=True):
        row = rows[k]
        unit = f"{k + 1}:{key}"
        if key != "tokens":
            if spans:
                row[key], out.record[unit], changes = ed.redact_text(text, spans, ctx.pz, unit)
                out.changes += changes
                out.samples[unit] = row[key]
                touched.add(k)
            continue
        tf = token_fields(row)
        assert tf is not None
        toks, tag_key, aligned = tf
        tags = row[tag_key] if tag_key else None
        offsets = ed.join_tokens(toks)[1]
        if ctx.label_map is not None and tags is not None:
            spans = resolve_overlaps([*spans, *ed.tag_spans(text, offsets, tags, ctx.label_map)])
        if not spans:
            continue
        plan = ed.plan_token_edits(toks, tags, spans, ctx.pz, unit, offsets)
        keys = ["tokens", *aligned, *([tag_key] if tag_key else [])]
        cells = [cells_of(row, keys, i) for i in range(len(toks))]
        new_cells, out.record[unit] = ed.rewrite_rows(cells, plan, cell_row)
        for j, key2 in enumerate(keys):
            row[key2] = [c[j] for c in new_cells]
        out.changes += [e.change for e in plan]
        out.samples[unit] = ed.join_tokens(row["tokens"])[0]
        touched.add(k)
    for k in touched:
        bodies[k] = json.dumps(rows[k], ensure_ascii=False)
    out.text = "".join(b + e for b, e in zip(bodies, ends, strict=True))
    return out


def restore_jsonl(src: str, record: Mapping[str, list[Any]]) -> str:
    bodies, ends, rows = parse_jsonl(src)
    for unit, rec in record.items():
        line, _, key = unit.partition(":")
        k = int(line) - 1
        row = rows[k] if k < len(rows) else None
        if not isinstance(row, dict) or key not in row:
            raise DataError(f"row {unit} does not match the vault's record", where="restore")
        if key != "tokens":
            restored = ed.restore_text(row[key], rec)
            if restored is None:
                raise DataError(f"field {unit} does not match the vault's record", where="restore")
            row[key] = restored
        else:
            tf = token_fields(row)
            assert tf is not None
            keys = ["tokens", *tf[2], *([tf[1]] if tf[1] else [])]
            cells = ed.restore_rows([cells_of(row, keys, i) for i in range(len(tf[0]))], rec)
            for j, key2 in enumerate(keys):
                row[key2] = [c[j] for c in cells]
        bodies[k] = json.dumps(row, ensure_ascii=False)
    return "".join(b + e for b, e in zip(bodies, ends, strict=True))


# ---------------------------------------------------------------- CSV: units are cells


def read_csv_rows(src: str) -> tuple[list[list[str]], str]:
    rows = list(csv.reader(io.StringIO(src)))
    if not rows:
        raise DataError("the CSV file is empty", fix="point at a file with a header row")
    return rows, "\r\n" if "\r\n" in src else "\n"


def write_csv_rows(rows: Sequence[Sequence[str]], newline: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline).writerows(rows)
    return buf.getvalue()


def redact_csv(src: str, ctx: Context) -> Redacted:
    rows, newline = read_csv_rows(src)
    header = rows[0]
    if ctx.columns is not None and not ctx.columns & set(header):
        raise DataError(
            f"none of the columns {sorted(ctx.columns)} is in the header {header}",
            where="--columns",
            fix="name columns of this file",
        )
    cols = [j for j, name in enumerate(header) if _wanted(ctx, name)]
    cells = [(r, j) for r in range(1, len(rows)) for j in cols if j < len(rows[r])]
    texts = [rows[r][j] for r, j in cells]
    out = Redacted("", units=len(cells))
    for (r, j), text, spans in zip(cells, texts, _detect_all(ctx, texts), strict=True):
        if spans:
            unit = f"{r}:{j}"
            rows[r][j], out.record[unit], changes = ed.redact_text(text, spans, ctx.pz, unit)
            out.changes += changes
            out.samples[unit] = rows[r][j]
    out.text = write_csv_rows(rows, newline)
    return out


def restore_csv(src: str, record: Mapping[str, list[Any]]) -> str:
    rows, newline = read_csv_rows(src)
    for unit, rec in record.items():
        r, j = (int(x) for x in unit.split(":"))
        restored = ed.restore_text(rows[r][j], rec) if r < len(rows) and j < len(rows[r]) else None
        if restored is None:
            raise DataError(f"cell {unit} does not match the vault's record", where="restore")
        rows[r][j] = restored
    return write_csv_rows(rows, newline)


REDACTORS: dict[str, Callable[[str, Context], Redacted]] = {
    "text": redact_plain, "conll": redact_conll, "jsonl": redact_jsonl, "csv": redact_csv,
}  # fmt: skip
RESTORERS: dict[str, Callable[[str, Mapping[str, list[Any]]], str]] = {
    "text": restore_plain, "conll": restore_conll, "jsonl": restore_jsonl, "csv": restore_csv,
}  # fmt: skip
