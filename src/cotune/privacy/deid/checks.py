"""Check digits of structured identifiers: Luhn (cards), ISO 13616 mod-97 (IBAN), GB 11643 (Chinese
resident ID). The recognisers use them to reject look-alike digit runs; the surrogate generator
uses them to make fakes that pass the same checks (so validators downstream accept redacted data).
"""

from __future__ import annotations

import datetime as dt

# IBAN lengths per country (ISO 13616 registry, the SEPA and common non-SEPA countries).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30,
    "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


def luhn_ok(digits: str) -> bool:
    """True when the digit string passes the Luhn check (payment cards)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_check_digit(payload: str) -> str:
    """The digit that, appended to `payload`, makes it Luhn-valid."""
    for d in "0123456789":
        if luhn_ok(payload + d):
            return d
    raise AssertionError("unreachable: one digit always completes a Luhn number")


def _iban_number(iban: str) -> int:
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved))


def iban_ok(iban: str) -> bool:
    """True for a compact (no spaces) IBAN with a known country length and a valid mod-97."""
    iban = iban.upper()
    if len(iban) != IBAN_LENGTHS.get(iban[:2], -1) or not iban.isalnum():
        return False
    if not iban[2:4].isdigit():
        return False
    return _iban_number(iban) % 97 == 1


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits for `country` + `bban` (ISO 13616: 98 - (n mod 97))."""
    n = _iban_number(country.upper() + "00" + bban.upper())
    return f"{98 - n % 97:02d}"


def cn_id_check_char(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits of a resident ID."""
    total = sum(int(c) * w for c, w in zip(first17, _CN_ID_WEIGHTS, strict=True))
    return _CN_ID_CHECK[total % 11]


def cn_id_ok(value: str) -> bool:
    """18-character resident ID: region code, a real birth date, and the check character."""
    value = value.upper()
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        return False
    if value[0] not in "12345678":  # region codes start 1-8 (6-digit administrative code)
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not dt.date(1900, 1, 1) <= born <= dt.date.today():
        return False
    return cn_id_check_char(value[:17]) == value[17]


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSN structure rules (SSA): no 000/666/9xx area, no 00 group, no 0000 serial."""
    if area in ("000", "666") or area.startswith("9"):
        return False
    return group != "00" and serial != "0000"
