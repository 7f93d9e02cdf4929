"""Calendar dates in English and Chinese forms: find them, and re-render a different date in the
same form (so a surrogate date of birth looks like the one it replaces).

Forms: 1985-03-07, 1985/3/7, 19850307, 07/03/1985, 7.3.85, 1985年3月7日, 一九八五年三月七日,
March 7th, 1985, the 7th of March 1985, 7-Mar-85; month-only ones (March 1985, 1985年3月,
1985-03) and birthdays without a year (March 7th, 7 March, 3月7日). Partial dates are dates of
birth too when a birth cue says so: a birth month and year, or a birthday, narrow down who
someone is nearly as well.

Whether a date is a *date of birth* is decided by its context, in birth.py.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_MON = (
    r"(?<![A-Za-z])(?P<mon>(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?"
    r"|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?)(?![A-Za-z])"
)
_D = r"(?P<d>[0-3]?\d)(?P<ord>st|nd|rd|th)?"
_Y = r"(?P<y>(?:19|20)\d\d)"
# Not inside a longer run of digits (phone numbers, IDs, version or IP strings such as 10.1.12.25).
_NB = r"(?<!\d)(?<!\d[./-])"
_NA = r"(?!\d)(?![./-]\d)"
_CN_VALUE = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0}
_CN_Y = r"(?P<cy>[〇零一二三四五六七八九]{4})\s*年"
_CN_M = r"\s*(?P<cm>十[一二]?|[一二三四五六七八九])\s*月"
_CN_D = r"\s*(?P<cd>三十一?|二?十[一二三四五六七八九]?|[一二三四五六七八九])\s*[日号]"

Precision = Literal["day", "month", "no-year"]
NO_YEAR = 2000  # the year a birthday without one is stored in: a leap year, so 29 February fits

# Earlier patterns win where two overlap: full dates before month-only ones.
_PATTERNS: list[tuple[re.Pattern[str], Precision]] = [
    # 1985-03-07, 1985/3/7, 1985.03.07
    (re.compile(_NB + _Y + r"(?P<s>[-/.])(?P<m>[01]?\d)(?P=s)(?P<d>[0-3]?\d)" + _NA), "day"),
    # 07/03/1985 and 03-07-1985: read month-first (US) unless the first number cannot be a month
    (re.compile(_NB + r"(?P<a>[0-3]?\d)(?P<s>[-/.])(?P<b>[0-3]?\d)(?P=s)" + _Y + _NA), "day"),
    # 07/03/85, 7.3.85: the same with a two-digit year
    (
        re.compile(_NB + r"(?P<a>[0-3]?\d)(?P<s>[-/.])(?P<b>[0-3]?\d)(?P=s)(?P<yy>\d\d)" + _NA),
        "day",
    ),
    # 19850307 (compact, as forms and databases write it): zero-padded month and day
    (re.compile(_NB + _Y + r"(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])" + _NA), "day"),
    # 1985年3月7日 / 1985年03月07号
    (re.compile(_NB + _Y + r"\s*年\s*(?P<m>[01]?\d)\s*月\s*(?P<d>[0-3]?\d)\s*[日号]"), "day"),
    # 一九八五年三月七日
    (re.compile(_CN_Y + _CN_M + _CN_D), "day"),
    # March 7, 1985 / Mar. 7th 1985 / March the 7th, 1985
    (re.compile(_MON + r"\s+(?:the\s+)?" + _D + r",?\s+" + _Y + _NA, re.I), "day"),
    # 7 March 1985 / 7th of March, 1985 / 07-Mar-1985
    (
        re.compile(
            _NB
            + _D
            + r"(?:\s+of\s+|\s+|-)"
            + _MON
            + r"(?:,?\s+|-)(?:"
            + _Y
            + r"|(?P<yy>\d\d))"
            + _NA,
            re.I,
        ),
        "day",
    ),
    # March 1985, 1985年3月, 一九八五年三月, 1985-03 (month precision)
    (re.compile(_MON + r",?\s+" + _Y + _NA, re.I), "month"),
    (re.compile(_NB + _Y + r"\s*年\s*(?P<m>[01]?\d)\s*月(?!\s*\d)"), "month"),
    (re.compile(_CN_Y + _CN_M + r"(?!\s*[一二三四五六七八九十])"), "month"),
    (re.compile(_NB + _Y + r"[-/.](?P<m>0?[1-9]|1[0-2])" + _NA), "month"),
    # March 3rd, 3 March, 3月3日, 三月三日: a birthday without its year (month names capitalised,
    # see _to_match: "5 may be" is not a date)
    (re.compile(_MON + r"\s+(?:the\s+)?" + _D + _NA + r"(?![A-Za-z])", re.I), "no-year"),
    (re.compile(_NB + _D + r"(?:\s+of\s+|\s+)" + _MON, re.I), "no-year"),
    (re.compile(r"(?<![\d年])(?P<m>[01]?\d)\s*月\s*(?P<d>[0-3]?\d)\s*[日号]"), "no-year"),
    (re.compile(r"(?<![年〇零一二三四五六七八九十])" + _CN_M + _CN_D), "no-year"),
]


@dataclass(frozen=True)
class DateMatch:
    start: int
    end: int
    # the first of the month when `precision` is "month"; in the year NO_YEAR when "no-year"
    date: dt.date
    groups: dict[str, tuple[int, int]]  # component -> span inside the match, for re-rendering
    text: str
    precision: Precision = "day"

    @property
    def key(self) -> str:
        """The date at its precision, ISO 8601-style: 1985-03-07, 1985-03 or --03-07."""
        iso = self.date.isoformat()
        return {"day": iso, "month": iso[:7], "no-year": "--" + iso[5:]}[self.precision]


def _month_number(name: str) -> int:
    key = name.rstrip(".").lower()[:3]
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(key))


def cn_number(text: str) -> int:
    """一九八五 -> 1985 (digit by digit); 二十一 -> 21, 十 -> 10 (with tens)."""
    if "十" not in text:
        return int("".join(str(_CN_VALUE[c]) for c in text))
    tens, _, ones = text.partition("十")
    return (cn_number(tens) if tens else 1) * 10 + (cn_number(ones) if ones else 0)


def to_cn_number(n: int, *, digits: bool = False, zero: str = "〇") -> str:
    """1985 -> 一九八五 (digits=True); 21 -> 二十一, 10 -> 十."""
    names = zero + "一二三四五六七八九"
    if digits:
        return "".join(names[int(c)] for c in str(n))
    tens, ones = divmod(n, 10)
    return (
        (names[tens] if tens > 1 else "") + ("十" if tens else "") + (names[ones] if ones else "")
    )


def two_digit_year(yy: int, today: dt.date | None = None) -> int:
    """85 -> 1985, 07 -> 2007: the latest year not after today (birth dates lie in the past)."""
    year = 2000 + yy
    return year if year <= (today or dt.date.today()).year else year - 100


def _to_match(m: re.Match[str], precision: Precision) -> DateMatch | None:
    g = {k: v for k, v in m.groupdict().items() if v is not None}
    groups: dict[str, tuple[int, int]] = {}
    if precision == "no-year" and "mon" in g and not g["mon"][0].isupper():
        return None
    if "cm" in g:
        year = cn_number(g["cy"]) if "cy" in g else NO_YEAR
        month = cn_number(g["cm"])
        day = cn_number(g["cd"]) if "cd" in g else 1
    else:
        year = int(g["y"]) if "y" in g else two_digit_year(int(g["yy"])) if "yy" in g else NO_YEAR
        if "a" in g:
            a, b = int(g["a"]), int(g["b"])
            month, day = (a, b) if a <= 12 else (b, a)
            groups["m" if a <= 12 else "d"] = m.span("a")
            groups["d" if a <= 12 else "m"] = m.span("b")
        else:
            month = _month_number(g["mon"]) if "mon" in g else int(g["m"])
            day = int(g["d"]) if "d" in g else 1
    for key in ("y", "yy", "m", "mon", "d", "ord", "cy", "cm", "cd"):
        if key in g and key not in groups:
            groups[key] = m.span(key)
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None
    rel = {k: (s - m.start(), e - m.start()) for k, (s, e) in groups.items()}
    return DateMatch(m.start(), m.end(), date, rel, m.group(0), precision)


def find_dates(text: str) -> list[DateMatch]:
    """Every well-formed calendar date, earliest first, without overlaps (full dates win)."""
    found: list[DateMatch] = []
    for pattern, precision in _PATTERNS:
        for m in pattern.finditer(text):
            dm = _to_match(m, precision)
            if dm and not any(dm.start < o.end and o.start < dm.end for o in found):
                found.append(dm)
    return sorted(found, key=lambda d: d.start)


def _render_part(key: str, old: str, new: dt.date, pad: bool = False) -> str:
    if key == "y":
        return f"{new.year:04d}"
    if key == "yy":
        return f"{new.year % 100:02d}"
    if key in ("m", "d"):
        n = new.month if key == "m" else new.day
        return f"{n:02d}" if pad or (len(old) == 2 and old.startswith("0")) else str(n)
    if key == "cy":
        return to_cn_number(new.year, digits=True, zero="零" if "零" in old else "〇")
    if key in ("cm", "cd"):
        return to_cn_number(new.month if key == "cm" else new.day)
    if key == "mon":
        full = MONTHS[new.month - 1]
        word = full if len(old.rstrip(".")) > 3 or full == "may" else full[:3]
        word = word.capitalize() if old[:1].isupper() else word
        word = word.upper() if old.rstrip(".").isupper() and len(old) > 1 else word
        return word + ("." if old.endswith(".") and word.lower() != full else "")
    d = new.day  # ordinal suffix
    return "th" if 11 <= d % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")


def render_like(match: DateMatch, new: dt.date) -> str:
    """`new` written in the same form as `match` (padding, month names, ordinals, script kept)."""
    compact = match.text.isdigit()  # 19851207 -> 19850307: without separators, always padded
    pieces = [
        (s, e, _render_part(key, match.text[s:e], new, compact))
        for key, (s, e) in match.groups.items()
    ]
    out = match.text
    for s, e, value in sorted(pieces, reverse=True):
        out = out[:s] + value + out[e:]
    return out
