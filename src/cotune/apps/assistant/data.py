"""The assistant's inputs: intents and FAQ files (JSONL or CSV), read and checked.

Intents: rows `{"text": ..., "intent": ...}` with an optional `"lang"`; `"intent": null` (an
empty cell in CSV) marks an out-of-scope example. FAQ: rows `{"id", "question", "answer"}` with
optional `"intent"` and `"lang"`. Keys starting with "_" are comments (`cotune assistant review`
writes its notes that way) and are ignored. Every error names the file, the line and the fix.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cotune.data.formats import json_rows, read_text
from cotune.errors import DataError

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")


def detect_lang(text: str) -> str:
    """'zh' when CJK characters are at least a third of the letters, else 'en'. Scripts are
    what the assistant routes on (tokenisation, FAQ language); it is not a language guesser."""
    letters = _LETTER.findall(text)
    cjk = sum(1 for c in letters if _CJK.match(c))
    return "zh" if letters and cjk * 3 >= len(letters) else "en"


@dataclass(frozen=True)
class IntentRow:
    text: str
    intent: str | None  # None: out of scope
    lang: str
    where: str


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    answer: str
    intent: str | None
    lang: str
    where: str = ""

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("where")
        return row


def read_rows(
    path: Path, columns: Sequence[str], required: Sequence[str]
) -> list[tuple[dict[str, Any], str]]:
    """(row, "file:line") pairs from a JSONL or CSV file; `columns` are the keys allowed."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file {path}", where=str(path), fix="check the path")
    text = read_text(path)
    rows: list[tuple[dict[str, Any], str]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(
                f"no column(s) {missing}; the header has {header}",
                where=f"{path}:1",
                fix=f"name the columns {list(columns)}",
            )
        for rowno, raw in enumerate(reader, start=2):
            where = f"{path}:{reader.line_num or rowno}"
            if None in raw or None in raw.values():
                raise DataError(
                    f"the row has a different number of cells than the header {header}",
                    where=where,
                    fix="quote cells that hold commas",
                )
            row = {k.strip(): (v if v.strip() else None) for k, v in raw.items()}
            rows.append((_known(row, columns, where), where))
    else:
        fix = 'write one JSON object per line, e.g. {"text": "...", "intent": "..."}'
        for lineno, row in json_rows(text, str(path), fix=fix):
            where = f"{path}:{lineno}"
            rows.append((_known(row, columns, where), where))
    if not rows:
        raise DataError("the file holds no rows", where=str(path), fix="add data rows")
    for row, where in rows:
        for key in required:
            if row.get(key) is None and key != "intent":
                raise DataError(f"missing {key!r}", where=where, fix=f"give every row a {key!r}")
    return rows


def _known(row: dict[str, Any], columns: Sequence[str], where: str) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if str(key).startswith("_"):
            continue
        if key not in columns:
            close = difflib.get_close_matches(str(key), columns, n=1)
            raise DataError(
                f"unknown key {key!r}",
                where=where,
                fix=f"did you mean {close[0]!r}?" if close else f"keys allowed: {list(columns)}",
            )
        if value is not None and not isinstance(value, str):
            raise DataError(
                f"{key!r} is {type(value).__name__} {value!r}, not a string",
                where=where,
                fix=f'quote it: "{key}": "{value}"',
            )
        out[key] = value.strip() if isinstance(value, str) else None
    return out


def read_intents(path: Path) -> list[IntentRow]:
    rows = read_rows(path, ("text", "intent", "lang"), ("text", "intent"))
    out: list[IntentRow] = []
    seen: dict[str, tuple[str | None, str]] = {}
    for row, where in rows:
        text, intent = row["text"], row.get("intent")
        if not text:
            raise DataError("empty text", where=where, fix="remove the row or give it a text")
        key = text.casefold()
        if key in seen and seen[key][0] != intent:
            raise DataError(
                f"the text {text!r} is labelled {intent!r} here and {seen[key][0]!r} at "
                f"{seen[key][1]}",
                where=where,
                fix="give one text one intent (null for out of scope)",
            )
        seen[key] = (intent, where)
        out.append(IntentRow(text, intent, row.get("lang") or detect_lang(text), where))
    return out


def check_intent_counts(rows: Sequence[IntentRow], minimum: int, path: Path) -> Counter[str]:
    """Per-intent counts; an intent with fewer than `minimum` examples is refused."""
    counts = Counter(r.intent for r in rows if r.intent is not None)
    if len(counts) < 2:
        raise DataError(
            f"{len(counts)} intent(s) found; an intent model needs at least 2",
            where=str(path),
            fix="label the examples with at least two intents",
        )
    for intent, n in sorted(counts.items()):
        if n < minimum:
            first = next(r.where for r in rows if r.intent == intent)
            raise DataError(
                f"intent {intent!r} has {n} example(s); at least {minimum} are needed (some are "
                "held out to calibrate the out-of-scope threshold)",
                where=first,
                fix=f"add {minimum - n} more example(s) of {intent!r}, or merge it into another "
                "intent (or lower --min-examples)",
            )
    return counts


def read_faq(path: Path, intents: set[str]) -> list[FaqEntry]:
    rows = read_rows(
        path, ("id", "question", "answer", "intent", "lang"), ("id", "question", "answer")
    )
    out: list[FaqEntry] = []
    ids: dict[str, str] = {}
    for row, where in rows:
        id_ = row["id"]
        if not id_:
            raise DataError("empty 'id'", where=where, fix="give every FAQ entry a unique id")
        if id_ in ids:
            raise DataError(
                f"duplicate FAQ id {id_!r} (first at {ids[id_]})",
                where=where,
                fix="give every FAQ entry its own id",
            )
        ids[id_] = where
        for key in ("question", "answer"):
            if not row.get(key):
                raise DataError(
                    f"FAQ {id_!r} has no {key}",
                    where=where,
                    fix=f"write the {key} (an entry without an answer cannot be given)",
                )
        intent = row.get("intent")
        if intent is not None and intent not in intents:
            close = difflib.get_close_matches(intent, sorted(intents), n=1)
            raise DataError(
                f"FAQ {id_!r} names the intent {intent!r}, which the intents file does not have",
                where=where,
                fix=(f"did you mean {close[0]!r}? " if close else "")
                + "use an intent from the intents file, or leave 'intent' out",
            )
        lang = row.get("lang") or detect_lang(row["question"])
        out.append(FaqEntry(id_, row["question"], row["answer"], intent, lang, where))
    return out
