"""Pattern recognisers for structured PII, each validated beyond its regular expression.

Every recogniser is a `Recognizer`: a name, the entity types it reports, and `find(text)`. Scores
encode trust, and overlapping detections are settled by score (spans.resolve_overlaps):
checksummed identifiers (1.0) > structure-checked (0.9-0.95) > context-dependent (0.8-0.85) >
names (<= 0.85) > bare domains (0.6).

Why no `\\b`: Python's `\\w` includes CJK characters, so `\\b` finds no boundary between 是 and an
e-mail address in 邮箱是a@b.com. Boundaries here are explicit ASCII look-arounds instead.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import phonenumbers

from cotune.privacy.deid import checks, spans
from cotune.privacy.deid.birth import find_dates_of_birth
from cotune.privacy.deid.spans import PiiSpan


class Recognizer(Protocol):
    """Finds PII of some types in one text. Implement this to add a detector."""

    name: str
    entities: tuple[str, ...]

    def find(self, text: str) -> list[PiiSpan]: ...


Finder = Callable[[str], list[tuple[int, int, float]]]


@dataclass
class FunctionRecognizer:
    """A recogniser from a function returning (start, end, score) triples for one entity type."""

    name: str
    entity: str
    finder: Finder
    entities: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.entities = (self.entity,)

    def find(self, text: str) -> list[PiiSpan]:
        folded, index = fold_lookalikes(text)
        out = []
        for s, e, score in self.finder(folded):
            s, e = index[s], index[e - 1] + 1
            out.append(PiiSpan(self.entity, s, e, text[s:e], score, self.name))
        return out


# Full-width forms (ｂｏｂ＠ｑｑ．ｃｏｍ, １３９...), Unicode spaces (NBSP between card groups) and
# dashes, and invisible characters (a zero-width space inside an address) would each hide a value
# from the ASCII patterns. CJK punctuation (，：；！？（）) is not folded: it ends URLs and values.
_FOLD = {
    chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F) if chr(c) not in "！（），：；？"
} | dict.fromkeys("\u2010\u2011\u2012\u2013\u2212", "-")


def fold_lookalikes(text: str) -> tuple[str, list[int]]:
    """`text` with look-alikes folded to ASCII and invisible characters dropped; `index[k]` is
    the position in `text` of folded character k (plus len(text) at the end)."""
    if text.isascii():
        return text, list(range(len(text) + 1))
    chars, index = [], []
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if category == "Cf":  # invisible formatting: zero-width space, soft hyphen, BOM ...
            continue
        space = ch != " " and category == "Zs"
        chars.append(" " if space else _FOLD.get(ch, ch))
        index.append(i)
    index.append(len(text))
    return "".join(chars), index


_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z-]|[0-9]*\.[A-Za-z])"
)  # a digit may follow the TLD (bob@qq.com13812345678: no TLD has digits), not a longer host


# URLs end at whitespace, quotes, CJK punctuation and Han characters (Chinese text runs on
# without spaces: 访问https://a.cn/x了解详情).
_URL_END = "\\s<>\"'，。、；：！？）】》「」\u3400-\u9fff"
_URL_SCHEME = re.compile(r"(?<![A-Za-z0-9])(?:https?|ftp)://[^" + _URL_END + "]+", re.I)
_URL_WWW = re.compile(
    r"(?<![A-Za-z0-9./@-])www\.[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:/[^" + _URL_END + "]*)?", re.I
)
_URL_BARE = re.compile(
    r"(?<![A-Za-z0-9./@_-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    r"(?:com|org|net|io|cn|gov|edu|info|biz|ai|dev|app|co\.uk|de|fr|uk|jp)"
    r"(?![A-Za-z0-9@-])(?:/[^" + _URL_END + "]*)?",
    re.I,
)
_TRAILING = ".,;:!?'\"]}"


def _trim_url(text: str, start: int, end: int) -> int:
    while end > start and (
        text[end - 1] in _TRAILING or (text[end - 1] == ")" and "(" not in text[start:end])
    ):
        end -= 1
    return end


def find_urls(text: str) -> list[tuple[int, int, float]]:
    out: list[tuple[int, int, float]] = []
    for pattern, score in ((_URL_SCHEME, 0.95), (_URL_WWW, 0.9), (_URL_BARE, 0.6)):
        for m in pattern.finditer(text):
            end = _trim_url(text, m.start(), m.end())
            if end - m.start() > 4 and not any(s <= m.start() < e for s, e, _ in out):
                out.append((m.start(), end, score))
    return out


def find_emails(text: str) -> list[tuple[int, int, float]]:
    # user:password@host inside a URL is the URL's; as an e-mail (which outscores the URL) it
    # would leave "https://user:" and the path and query behind.
    urls = [(m.start(), m.end()) for m in _URL_SCHEME.finditer(text)]
    return [
        (m.start(), m.end(), 1.0)
        for m in _EMAIL.finditer(text)
        if not any(s < m.start() < e for s, e in urls)
    ]


_IPV4 = re.compile(
    r"(?<![0-9.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![0-9]|\.[0-9])"
)
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])")


def find_ips(text: str) -> list[tuple[int, int, float]]:
    out = [(m.start(), m.end(), 0.9) for m in _IPV4.finditer(text)]
    for m in _IPV6.finditer(text):
        candidate = m.group(0)
        if "::" not in candidate and candidate.count(":") < 7:
            continue  # "10:30:00" is a time, not an address
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        out.append((m.start(), m.end(), 0.9))
    return out


_CARD = re.compile(
    r"(?<![0-9])(?:\d{4}[ -]?){3,4}\d{1,4}(?![0-9])"  # 4-4-4-1..4 or 4-4-4-4-1..3 groups
    r"|(?<![0-9])3[47]\d{2}[ -]?\d{6}[ -]?\d{5}(?![0-9])"  # American Express 4-6-5
    r"|(?<![0-9])\d{13,19}(?![0-9])"
)


def find_credit_cards(text: str) -> list[tuple[int, int, float]]:
    out = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group(0))
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and checks.luhn_ok(digits):
            out.append((m.start(), m.end(), 0.95))
    return out


_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})")  # typed lower-case too


def find_ibans(text: str) -> list[tuple[int, int, float]]:
    """Country code + check digits, then exactly the country's length of BBAN (spaces allowed)."""
    out = []
    for m in _IBAN_START.finditer(text):
        want = checks.IBAN_LENGTHS.get(m.group(1).upper())
        if want is None:
            continue
        compact, i = m.group(1) + m.group(2), m.end()
        while len(compact) < want and i < len(text):
            ch = text[i]
            if ch.isascii() and ch.isalnum():
                compact += ch
            elif not (
                ch == " " and i + 1 < len(text) and text[i + 1].isascii() and text[i + 1].isalnum()
            ):
                break
            i += 1
        at_boundary = i == len(text) or not (text[i].isascii() and text[i].isalnum())
        if len(compact) == want and at_boundary and checks.iban_ok(compact):
            out.append((m.start(), i, 1.0))
    return out


_SSN = re.compile(r"(?<![0-9-])(\d{3})([- ])(\d{2})\2(\d{4})(?![0-9-])")
_SSN_PLAIN = re.compile(r"(?<![0-9])(\d{3})(\d{2})(\d{4})(?![0-9])")
_SSN_CUE = re.compile(r"(?:ssn|social security)", re.I)


def find_us_ssns(text: str) -> list[tuple[int, int, float]]:
    out = [
        (m.start(), m.end(), 0.92)
        for m in _SSN.finditer(text)
        if checks.ssn_ok(m.group(1), m.group(3), m.group(4))
    ]
    for m in _SSN_PLAIN.finditer(text):  # nine bare digits only next to an SSN cue
        if _SSN_CUE.search(text[max(0, m.start() - 30) : m.start()]) and checks.ssn_ok(*m.groups()):
            out.append((m.start(), m.end(), 0.85))
    return out


_CN_ID = re.compile(r"(?<![0-9A-Za-z])[1-8]\d{16}[0-9Xx](?![0-9A-Za-z])")


def find_cn_ids(text: str) -> list[tuple[int, int, float]]:
    return [(m.start(), m.end(), 1.0) for m in _CN_ID.finditer(text) if checks.cn_id_ok(m.group(0))]


_CN_MOBILE = re.compile(r"(?<![0-9+])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9])")


@dataclass
class PhoneFinder:
    """Numbers that `phonenumbers` calls valid, read as national numbers of `regions` when they
    carry no +country code; plus Chinese mobiles (1[3-9]x xxxx xxxx) by pattern, so new number
    blocks not yet in phonenumbers' metadata still count."""

    regions: Sequence[str] = ("US", "CN", "GB")

    def __call__(self, text: str) -> list[tuple[int, int, float]]:
        found: dict[tuple[int, int], float] = {}
        for region in self.regions:
            for pm in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.VALID
            ):
                start = pm.start
                if pm.raw_string.startswith("(") and ")" not in pm.raw_string:
                    start += 1  # "phone (+1 617-...)": the bracket is the sentence's
                found.setdefault((start, pm.end), 0.9)
        for m in _CN_MOBILE.finditer(text):
            if not any(s <= m.start() < e for s, e in found):
                found[(m.start(), m.end())] = 0.85
        return [(s, e, score) for (s, e), score in sorted(found.items())]


def find_dobs(text: str) -> list[tuple[int, int, float]]:
    return [(d.start, d.end, 0.85) for d in find_dates_of_birth(text)]


def pattern_recognizers(phone_regions: Sequence[str] = ("US", "CN", "GB")) -> list[Recognizer]:
    """All of cotune's pattern recognisers, one per entity type."""
    return [
        FunctionRecognizer("email", spans.EMAIL, find_emails),
        FunctionRecognizer("url", spans.URL, find_urls),
        FunctionRecognizer("ip", spans.IP, find_ips),
        FunctionRecognizer("luhn-card", spans.CREDIT_CARD, find_credit_cards),
        FunctionRecognizer("iban-mod97", spans.IBAN, find_ibans),
        FunctionRecognizer("us-ssn", spans.US_SSN, find_us_ssns),
        FunctionRecognizer("cn-id-gb11643", spans.CN_ID, find_cn_ids),
        FunctionRecognizer("phonenumbers", spans.PHONE, PhoneFinder(tuple(phone_regions))),
        FunctionRecognizer("dob-cue", spans.DOB, find_dobs),
    ]
