"""Realistic same-type fakes, deterministic per value given a secret seed.

A surrogate keeps the *form* of what it replaces (separators, length, script, the suffix of a
place or organisation, the date format) and passes the same checks (Luhn, IBAN mod-97, GB 11643),
so tools downstream of redaction still accept the data, while the value itself is random.
"""

from __future__ import annotations

import datetime as dt
import random
import re

from cotune.privacy.deid import checks
from cotune.privacy.deid import lexicon as lx
from cotune.privacy.deid import spans as T
from cotune.privacy.deid.dates import find_dates, render_like
from cotune.privacy.deid.names import is_han

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_CN_NAME_CHARS = lx.SURROGATE_CN_GIVEN
_CN_PLACE_CHARS = "青川临江明湖云岭安平东溪白石长宁清河双桥新和永丰嘉禾"
_EN_PARTS = (
    "North",
    "Blue",
    "Cedar",
    "Bright",
    "Iron",
    "Silver",
    "Kestrel",
    "Harbor",
    "Stone",
    "Oak",
)
_EN_PARTS2 = ("wind", "peak", "line", "field", "wood", "lake", "ridge", "gate", "brook", "vale")
_CN_ID_REGIONS = ("110101", "310104", "440305", "510107", "330106", "420102", "320102", "370102")


def _scramble(rng: random.Random, text: str, keep_prefix: int = 0) -> str:
    """Same shape: each letter -> random letter of the same case, digit -> random digit."""
    out = []
    for i, ch in enumerate(text):
        if i < keep_prefix or not ch.isascii() or not ch.isalnum():
            out.append(ch)
        elif ch.isdigit():
            out.append(str(rng.randrange(10)))
        else:
            c = rng.choice(_LETTERS)
            out.append(c.upper() if ch.isupper() else c)
    return "".join(out)


def _replace_digits(text: str, digits: str) -> str:
    it = iter(digits)
    return "".join(next(it) if ch.isdigit() else ch for ch in text)


def _person(rng: random.Random, original: str) -> str:
    if any(is_han(c) for c in original):
        given = max(1, min(2, len(original) - 1))
        return rng.choice(lx.SURROGATE_CN_SURNAMES) + "".join(
            rng.choice(_CN_NAME_CHARS) for _ in range(given)
        )
    first, last = rng.choice(lx.SURROGATE_EN_FIRST), rng.choice(lx.SURROGATE_EN_LAST)
    return first if len(original.split()) == 1 else f"{first} {last}"


def _with_suffix(rng: random.Random, original: str, suffixes: tuple[str, ...], org: bool) -> str:
    if any(is_han(c) for c in original):
        suffix = next((s for s in suffixes if original.endswith(s)), "")
        return "".join(rng.choice(_CN_PLACE_CHARS) for _ in range(2)) + suffix
    words = original.split()
    known = lx.EN_ORG_SUFFIXES if org else lx.EN_LOCATION_SUFFIXES
    head = rng.choice(_EN_PARTS) + rng.choice(_EN_PARTS2)
    tail = words[-1] if len(words) > 1 and words[-1].lower().rstrip(".") in known else ""
    return f"{head} {tail}".strip()


def _phone(rng: random.Random, original: str) -> str:
    digits = re.sub(r"\D", "", original)
    keep = 2
    if original.lstrip().startswith("+"):
        keep = 3 if digits.startswith(("86", "44", "49", "33", "81", "91")) else 2
    new = digits[:keep] + "".join(str(rng.randrange(10)) for _ in digits[keep:])
    return _replace_digits(original, new)


def _card(rng: random.Random, original: str) -> str:
    digits = re.sub(r"\D", "", original)
    body = digits[0] + "".join(str(rng.randrange(10)) for _ in digits[1:-1])
    return _replace_digits(original, body + checks.luhn_check_digit(body))


def _iban(rng: random.Random, original: str) -> str:
    compact = original.replace(" ", "")
    bban = _scramble(rng, compact[4:])
    new = compact[:2] + checks.iban_check_digits(compact[:2], bban) + bban
    it = iter(new)
    return "".join(ch if ch == " " else next(it) for ch in original)


def _ip(rng: random.Random, original: str) -> str:
    if ":" in original:
        return "".join(rng.choice("0123456789abcdef") if c != ":" else c for c in original.lower())
    return ".".join(
        str(x)
        for x in (rng.randint(11, 223), rng.randrange(256), rng.randrange(256), rng.randint(1, 254))
    )


def _url(rng: random.Random, original: str) -> str:
    m = re.match(r"(?i)((?:https?|ftp)://)?(www\.)?", original)
    prefix = m.group(0) if m else ""
    rest = original[len(prefix) :]
    host, slash, path = rest.partition("/")
    labels = host.split(".")
    host = ".".join([_scramble(rng, label) for label in labels[:-1]] + labels[-1:])
    return prefix + host + slash + _scramble(rng, path)


def _ssn(rng: random.Random, original: str) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    new = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
    return _replace_digits(original, new)


def _cn_id(rng: random.Random, original: str) -> str:
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55))
    first17 = rng.choice(_CN_ID_REGIONS) + born.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    check = checks.cn_id_check_char(first17)
    return first17 + (check.lower() if original[-1:] == "x" else check)


def _dob(rng: random.Random, original: str) -> str:
    found = find_dates(original)
    if not found or found[0].text != original:
        return _scramble(rng, original)
    old = found[0].date
    if found[0].precision == "no-year":  # another day of the (leap) year, never the same one
        day_of_year = (old.timetuple().tm_yday - 1 + rng.randint(1, 365)) % 366
        return render_like(found[0], dt.date(old.year, 1, 1) + dt.timedelta(days=day_of_year))
    # at least 366 days, so the year always changes: a surrogate in the same year would still
    # leak the age
    shift = rng.choice((-1, 1)) * rng.randint(366, 1500)
    return render_like(found[0], old + dt.timedelta(days=shift))


def _email(rng: random.Random, original: str) -> str:
    local = f"{rng.choice(lx.SURROGATE_EN_FIRST)}.{rng.choice(lx.SURROGATE_EN_LAST)}".lower()
    return f"{local}{rng.randrange(100)}@{rng.choice(lx.SURROGATE_DOMAINS)}"


def make_surrogate(kind: str, original: str, rng: random.Random) -> str:
    """A fake `kind` value shaped like `original`, drawn from `rng`."""
    if kind == T.PERSON:
        return _person(rng, original)
    if kind == T.ORG:
        return _with_suffix(rng, original, lx.CN_ORG_SUFFIXES, org=True)
    if kind == T.LOCATION:
        return _with_suffix(rng, original, lx.CN_LOC_SUFFIXES, org=False)
    makers = {
        T.EMAIL: _email, T.PHONE: _phone, T.CREDIT_CARD: _card, T.IBAN: _iban, T.IP: _ip,
        T.URL: _url, T.US_SSN: _ssn, T.CN_ID: _cn_id, T.DOB: _dob,
    }  # fmt: skip
    maker = makers.get(kind)
    return maker(rng, original) if maker else _scramble(rng, original)
