"""Calendar dates in English and Chinese forms: find them, and re-render a different date in the
same form (so a surrogate date of birth looks like the one it replaces).

A date is only a *date of birth* in context: `find_dates_of_birth` keeps the dates that a birth cue
(born, DOB, date of birth, birthday, 出生, 生日, 生于) stands close to. Other dates (meetings,
invoices) are not PII on their own and stay.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_MON = (
    r"(?P<mon>(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?)"
)
_D = r"(?P<d>[0-3]?\d)(?P<ord>st|nd|rd|th)?"
_Y = r"(?P<y>(?:19|20)\d\d)"
_NB = r"(?<![\d])"  # not inside a longer digit run (phone numbers, IDs)
_NA = r"(?![\d])"

_PATTERNS = [
    # 1985-03-07, 1985/3/7, 1985.03.07
    re.compile(_NB + _Y + r"(?P<s>[-/.])(?P<m>[01]?\d)(?P=s)(?P<d>[0-3]?\d)" + _NA),
    # 07/03/1985 and 03-07-1985: read month-first (US) unless the first number cannot be a month
    re.compile(_NB + r"(?P<a>[0-3]?\d)(?P<s>[-/.])(?P<b>[0-3]?\d)(?P=s)" + _Y + _NA),
    # 1985年3月7日 / 1985年03月07号
    re.compile(_NB + r"(?P<y>(?:19|20)\d\d)\s*年\s*(?P<m>[01]?\d)\s*月\s*(?P<d>[0-3]?\d)\s*[日号]"),
    # March 7, 1985 / Mar. 7th 1985
    re.compile(r"\b" + _MON + r"\s+" + _D + r",?\s+" + _Y + _NA, re.I),
    # 7 March 1985 / 7th of March, 1985
    re.compile(_NB + _D + r"(?:\s+of)?\s+" + _MON + r",?\s+" + _Y + _NA, re.I),
]


@dataclass(frozen=True)
class DateMatch:
    start: int
    end: int
    date: dt.date
    groups: dict[str, tuple[int, int]]  # component -> span inside the match, for re-rendering
    text: str


def _month_number(name: str) -> int:
    key = name.rstrip(".").lower()[:3]
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(key))


def _to_match(m: re.Match[str]) -> DateMatch | None:
    g = m.groupdict()
    year = int(g["y"])
    groups: dict[str, tuple[int, int]] = {}
    if g.get("a"):
        a, b = int(g["a"]), int(g["b"])
        month, day = (a, b) if a <= 12 else (b, a)
        groups["m" if a <= 12 else "d"] = m.span("a")
        groups["d" if a <= 12 else "m"] = m.span("b")
    else:
        month = _month_number(g["mon"]) if g.get("mon") else int(g["m"])
        day = int(g["d"])
        groups["mon" if g.get("mon") else "m"] = m.span("mon" if g.get("mon") else "m")
        groups["d"] = m.span("d")
    if g.get("ord"):
        groups["ord"] = m.span("ord")
    groups["y"] = m.span("y")
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None
    rel = {k: (s - m.start(), e - m.start()) for k, (s, e) in groups.items()}
    return DateMatch(m.start(), m.end(), date, rel, m.group(0))


def find_dates(text: str) -> list[DateMatch]:
    """Every well-formed calendar date, earliest-longest first, without overlaps."""
    found: list[DateMatch] = []
    for pattern in _PATTERNS:
        for m in pattern.finditer(text):
            dm = _to_match(m)
            if dm and not any(dm.start < o.end and o.start < dm.end for o in found):
                found.append(dm)
    return sorted(found, key=lambda d: d.start)


_CUE_BEFORE = re.compile(
    r"(?:\bborn\b|\bbirth|\bd\.?o\.?b\b|\bbirthday|\bb\.|出生|生日|生于|诞生|出生日期|出生年月)",
    re.I,
)
_CUE_AFTER = re.compile(r"^\s*(?:出生|生|诞生|\(?born\)?)")
_SENTENCE_BREAK = re.compile(r"[.!?。！？;；]\s")


def find_dates_of_birth(text: str, window: int = 40) -> list[DateMatch]:
    """Dates with a birth cue in the `window` characters before (same clause) or just after."""
    out = []
    for d in find_dates(text):
        before = text[max(0, d.start - window) : d.start]
        # Only the part of the window after the last sentence break counts.
        breaks = list(_SENTENCE_BREAK.finditer(before))
        if breaks:
            before = before[breaks[-1].end() :]
        if _CUE_BEFORE.search(before) or _CUE_AFTER.match(text[d.end : d.end + 6]):
            out.append(d)
    return out


def render_like(match: DateMatch, new: dt.date) -> str:
    """`new` written in the same form as `match` (padding, month names, ordinals kept)."""
    pieces: list[tuple[int, int, str]] = []
    for key, (s, e) in match.groups.items():
        old = match.text[s:e]
        if key == "y":
            value = f"{new.year:04d}"
        elif key in ("m", "d"):
            n = new.month if key == "m" else new.day
            value = f"{n:02d}" if len(old) == 2 and old.startswith("0") else str(n)
        elif key == "mon":
            full = MONTHS[new.month - 1]
            word = full if len(old.rstrip(".")) > 3 or full == "may" else full[:3]
            word = word.capitalize() if old[:1].isupper() else word
            word = word.upper() if old.rstrip(".").isupper() and len(old) > 1 else word
            value = word + ("." if old.endswith(".") and word.lower() != full else "")
        else:  # ordinal suffix
            d = new.day
            value = "th" if 11 <= d % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
        pieces.append((s, e, value))
    out = match.text
    for s, e, value in sorted(pieces, reverse=True):
        out = out[:s] + value + out[e:]
    return out
