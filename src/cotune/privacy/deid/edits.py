"""Rewriting one text or one tokenised sentence, and putting the originals back.

Text: each detected span is replaced in place; the record keeps (start, end, original) in the
*redacted* text's coordinates, so restoring is exact.

Tokens: the sentence is joined into text (a space between words, none between two CJK
characters, so Chinese character-level data reads as Chinese), PII is detected on that text, and
each span is widened to the tokens it touches. Those tokens become the replacement's tokens, and
their tags follow the rules that keep NER data consistent:
- a replaced span that overlapped an entity becomes an entity of the same type: B-X, I-X, ...
  (I-X first when the span started inside the entity);
- a span over O tokens stays O;
- a following I-Y cut off from its B-Y becomes B-Y (the record remembers, to restore exactly).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cotune.privacy.deid.names import DEFAULT_LABEL_MAP, is_han
from cotune.privacy.deid.pseudonymize import Pseudonymizer
from cotune.privacy.deid.spans import PiiSpan

R = TypeVar("R")


@dataclass(frozen=True)
class Change:
    """One replacement, for the report (no original unless asked for)."""

    unit: str
    type: str
    replacement: str
    policy: str
    source: str
    score: float
    original: str


def redact_text(
    text: str, spans: Sequence[PiiSpan], pz: Pseudonymizer, unit: str
) -> tuple[str, list[list[object]], list[Change]]:
    """-> (redacted text, [[start, end, original] in redacted coordinates], changes)."""
    pieces, record, changes = [], [], []
    pos = shift = 0
    for s in sorted(spans, key=lambda s: s.start):
        new = pz.replace(s.type, s.text)
        pieces.append(text[pos : s.start] + new)
        record.append([s.start + shift, s.start + shift + len(new), s.text])
        changes.append(Change(unit, s.type, new, pz.policy_for(s.type), s.source, s.score, s.text))
        shift += len(new) - (s.end - s.start)
        pos = s.end
    pieces.append(text[pos:])
    return "".join(pieces), record, changes


def restore_text(text: str, record: Sequence[Sequence[object]]) -> str | None:
    """Exact restoration from a record; None when the text no longer matches it."""
    out = text
    for start, end, original in sorted(record, key=lambda r: -int(str(r[0]))):
        s, e = int(str(start)), int(str(end))
        if e > len(out):
            return None
        out = out[:s] + str(original) + out[e:]
    return out


def restore_by_mapping(text: str, originals: Mapping[str, str]) -> tuple[str, int]:
    """Replace every known pseudonym/surrogate by its original (for text the vault has no
    per-file record of, e.g. model output on redacted data). -> (text, replacements made)."""
    if not originals:
        return text, 0
    keys = sorted(originals, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(k) for k in keys))
    count = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return originals[m.group(0)]

    return pattern.sub(sub, text), count


def join_tokens(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Tokens -> text with each token's (start, end)."""
    parts: list[str] = []
    offsets: list[tuple[int, int]] = []
    pos = 0
    for k, tok in enumerate(tokens):
        if k and not (is_han(tokens[k - 1][-1:]) and is_han(tok[:1])):
            parts.append(" ")
            pos += 1
        offsets.append((pos, pos + len(tok)))
        parts.append(tok)
        pos += len(tok)
    return "".join(parts), offsets


def _kind(tag: str) -> str:
    return tag[2:] if tag[:2] in ("B-", "I-", "E-", "S-") else ""


def tag_spans(
    text: str,
    offsets: Sequence[tuple[int, int]],
    tags: Sequence[str],
    label_map: Mapping[str, str] = DEFAULT_LABEL_MAP,
) -> list[PiiSpan]:
    """Gold entities whose label maps to a name type are PII too (score 1: a person tagged by
    the annotator is a person, whatever the detector says)."""
    out = []
    k = 0
    while k < len(tags):
        kind = label_map.get(_kind(tags[k]).lower())
        if not kind:
            k += 1
            continue
        j = k + 1
        while j < len(tags) and tags[j][:2] in ("I-", "E-") and _kind(tags[j]) == _kind(tags[k]):
            j += 1
        s, e = offsets[k][0], offsets[j - 1][1]
        out.append(PiiSpan(kind, s, e, text[s:e], 1.0, "gold-tags"))
        k = j
    return out


@dataclass
class TokenEdit:
    """Tokens [start, end) of the original become `tokens` (with `tags` when the data has tags)."""

    start: int
    end: int
    tokens: list[str]
    tags: list[str] | None
    next_tag: str | None  # new tag for token `end` when it had to change (I-Y -> B-Y)
    change: Change


def plan_token_edits(
    tokens: Sequence[str],
    tags: Sequence[str] | None,
    spans: Sequence[PiiSpan],
    pz: Pseudonymizer,
    unit: str,
    offsets: Sequence[tuple[int, int]],
) -> list[TokenEdit]:
    edits: list[TokenEdit] = []
    for span in sorted(spans, key=lambda s: s.start):
        i = next(k for k, (s, e) in enumerate(offsets) if e > span.start)
        j = max(k for k, (s, e) in enumerate(offsets) if s < span.end) + 1
        if edits and i < edits[-1].end:
            continue  # a second value inside the same tokens: already covered by the first
        new = pz.replace(span.type, span.text)
        first, last = tokens[i], tokens[j - 1]
        a, b = span.start - offsets[i][0], span.end - offsets[j - 1][0]
        joined = first[: max(0, a)] + new + last[max(0, b) :]
        if all(len(t) == 1 and is_han(t) for t in tokens[i:j]) and all(
            is_han(c) or c == "*" for c in new
        ):
            new_tokens = list(joined)  # character-level Chinese stays character-level
        else:
            new_tokens = joined.split() or [joined]
        new_tags, next_tag = None, None
        if tags is not None:
            new_tags, next_tag = _retag(tags, i, j, len(new_tokens))
        change = Change(
            unit, span.type, new, pz.policy_for(span.type), span.source, span.score, span.text
        )
        edits.append(TokenEdit(i, j, new_tokens, new_tags, next_tag, change))
    return edits


def _retag(tags: Sequence[str], i: int, j: int, n: int) -> tuple[list[str], str | None]:
    inside = [t for t in tags[i:j] if t != "O"]
    next_tag = None
    if j < len(tags) and tags[j][:2] in ("I-", "E-"):
        kind = _kind(tags[j])
        if not inside or _kind(inside[-1]) != kind:
            next_tag = "B-" + kind
    if not inside:
        return ["O"] * n, next_tag
    kind = _kind(inside[0])
    head = "I-" if tags[i][:2] in ("I-", "E-") and _kind(tags[i]) == kind else "B-"
    return [head + kind] + ["I-" + kind] * (n - 1), next_tag


def rewrite_rows(
    rows: Sequence[R], plan: Sequence[TokenEdit], make_row: Callable[[R, str | None, str | None], R]
) -> tuple[list[R], list[list[Any]]]:
    """Apply token edits to rows of any shape (a CoNLL line, a list of cells).

    `make_row(template, token, tag)` builds a row like `template` with a new token and/or tag
    (None keeps that part). -> (new rows, record); the record holds the original rows of each
    edit at its new position, so `restore_rows` puts them back exactly.
    """
    starts = {e.start for e in plan}
    fixes = [e.next_tag is not None and e.end < len(rows) and e.end not in starts for e in plan]
    record: list[list[Any]] = []
    shift = 0
    for e, fix in zip(plan, fixes, strict=True):
        record.append(
            [
                e.start + shift,
                len(e.tokens),
                list(rows[e.start : e.end]),
                rows[e.end] if fix else None,
            ]
        )
        shift += len(e.tokens) - (e.end - e.start)
    new = list(rows)
    for e, fix in reversed(list(zip(plan, fixes, strict=True))):
        if fix:
            new[e.end] = make_row(new[e.end], None, e.next_tag)
        new[e.start : e.end] = [
            make_row(rows[e.start], tok, e.tags[k] if e.tags else None)
            for k, tok in enumerate(e.tokens)
        ]
    return new, record


def restore_rows(rows: Sequence[R], record: Sequence[Sequence[Any]]) -> list[R]:
    new = list(rows)
    for new_start, new_len, originals, next_row in sorted(record, key=lambda r: -int(r[0])):
        if new_start + new_len > len(new):
            raise ValueError("record does not fit")
        if next_row is not None:
            new[new_start + new_len] = next_row
        new[new_start : new_start + new_len] = originals
    return new
