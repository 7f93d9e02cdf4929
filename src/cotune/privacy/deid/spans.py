"""The detected-PII span and how overlapping detections are settled."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Entity type names follow Presidio's, so presidio recognisers plug in unchanged.
EMAIL = "EMAIL_ADDRESS"
PHONE = "PHONE_NUMBER"
CREDIT_CARD = "CREDIT_CARD"
IBAN = "IBAN_CODE"
IP = "IP_ADDRESS"
URL = "URL"
US_SSN = "US_SSN"
CN_ID = "CN_RESIDENT_ID"
DOB = "DATE_OF_BIRTH"
PERSON = "PERSON"
ORG = "ORGANIZATION"
LOCATION = "LOCATION"

PATTERN_TYPES = (EMAIL, PHONE, CREDIT_CARD, IBAN, IP, URL, US_SSN, CN_ID, DOB)
NAME_TYPES = (PERSON, ORG, LOCATION)
ALL_TYPES = PATTERN_TYPES + NAME_TYPES


@dataclass(frozen=True)
class PiiSpan:
    """One piece of PII: `text[start:end]` is exactly the value."""

    type: str
    start: int
    end: int
    text: str
    score: float
    source: str  # which recogniser found it, for the report and for debugging misses

    def overlaps(self, other: PiiSpan) -> bool:
        return self.start < other.end and other.start < self.end


def resolve_overlaps(spans: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Keep a non-overlapping subset: higher score first, then the longer span, then earlier.

    Validated identifiers score higher than names and context-dependent dates, so an ID number
    inside a sentence that a name heuristic also touched stays an ID. Returned in text order.
    """
    ranked = sorted(spans, key=lambda s: (-s.score, -(s.end - s.start), s.start, s.type))
    kept: list[PiiSpan] = []
    for span in ranked:
        if span.end > span.start and not any(span.overlaps(k) for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)
