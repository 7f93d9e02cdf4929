"""Requests for a person, in English and Chinese. A customer who asks for a human gets one,
whatever the intent model thinks: this check runs before it and cannot be outvoted."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_EN = [
    r"\b(talk|speak|chat)\w* (to|with) (a |an |some )?(real |live |actual )?"
    r"(human|person|someone|somebody|agent|operator|representative|advisor|adviser)\b",
    r"\b(real|live|actual) (human|person|agent)\b",
    r"\b(human|live) (agent|support|operator)\b",
    r"\b(customer service|customer support) (agent|representative|person)\b",
    r"\bconnect me (to|with)\b",
    r"\b(transfer|put) me (through )?to (a |an )?(human|person|agent|operator)\b",
    r"^\s*(agent|human|operator|representative)\s*[.!?]*\s*$",
    r"\bi want (a |an )?(human|person|agent|operator)\b",
]
_ZH = [
    "人工",
    "转人工",
    "真人",
    "客服人员",
    "人工客服",
    "找客服",
    "接线员",
    "工作人员",
    "和人说话",
    "跟人说话",
]


class HandoffRequest:
    def __init__(self, extra: Sequence[str] = ()) -> None:
        self._en = [re.compile(p) for p in _EN]
        self._phrases = [p.casefold() for p in (*_ZH, *extra) if p.strip()]

    def __call__(self, text: str) -> bool:
        folded = unicodedata.normalize("NFKC", text).casefold()
        return any(p in folded for p in self._phrases) or any(r.search(folded) for r in self._en)
