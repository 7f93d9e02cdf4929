"""Person, organisation and location names: from a cotune NER artifact, or, with no model, from a
heuristic that reads structure rather than memorised names.

The heuristic, and its limits (measured in bench/pii_detection.py):
- English: runs of capitalised words. A run ending in an organisation word (Inc, Bank, University)
  is an ORGANIZATION; one ending in a place word (Street, City, River) or following "in"/"near"
  is a LOCATION; a run after a title (Mr, Dr) or of two or more words otherwise is a PERSON; a
  lone capitalised word is a PERSON only if it is a common first name. Misses: one-word names
  without a cue, lower-cased text (tweets), organisations without a suffix word ("Acme").
- Chinese: no word segmentation. A PERSON is a common surname + one or two characters that end at
  a particle, verb, title or punctuation; ordinary words that begin with a surname character
  (马上, 高兴) are excluded by a list. Organisations and places need a suffix (公司, 银行, 大学 /
  省, 市, 区, 路); touching places are one address, with its house number (上海市浦东新区世纪大道
  100号). Misses: rare surnames, names followed directly by a content word, bare place
  names without a suffix (杭州 rather than 杭州市); 王明天去 reads as 王明天.
A trained NER artifact (`ArtifactNameRecognizer`) replaces all of this when the owner has one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cotune.errors import ConfigError
from cotune.privacy.deid import lexicon as lx
from cotune.privacy.deid.spans import LOCATION, ORG, PERSON, PiiSpan

# Artifact label (lower-cased) -> cotune entity type. WNUT-16, CoNLL-2003, OntoNotes and
# People's Daily label names are covered; others are ignored unless mapped.
DEFAULT_LABEL_MAP: dict[str, str] = {
    "person": PERSON, "per": PERSON, "pers": PERSON, "people": PERSON, "nr": PERSON,
    "geo-loc": LOCATION, "loc": LOCATION, "location": LOCATION, "gpe": LOCATION,
    "city": LOCATION, "country": LOCATION, "ns": LOCATION,
    "company": ORG, "org": ORG, "organization": ORG, "organisation": ORG, "corporation": ORG,
    "nt": ORG,
}  # fmt: skip


def parse_label_map(pairs: Sequence[str]) -> dict[str, str]:
    """`["person=PERSON", "geo-loc=LOCATION"]` -> a label map added to the default one."""
    out = dict(DEFAULT_LABEL_MAP)
    for pair in pairs:
        label, sep, kind = pair.partition("=")
        if not sep or kind.strip().upper() not in (PERSON, ORG, LOCATION):
            raise ConfigError(
                f"bad label mapping {pair!r}",
                where="--label-map",
                fix="write LABEL=PERSON, LABEL=ORGANIZATION or LABEL=LOCATION",
            )
        out[label.strip().lower()] = kind.strip().upper()
    return out


def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


class ArtifactNameRecognizer:
    """Names from a cotune token-classification artifact (`cotune train` output)."""

    name = "ner-artifact"
    entities: tuple[str, ...] = (PERSON, ORG, LOCATION)

    def __init__(
        self,
        folder: str | Path,
        label_map: Mapping[str, str] | None = None,
        batch_size: int = 32,
    ) -> None:
        from cotune.artifact import load_artifact

        self.predictor: Any = load_artifact(folder)
        if self.predictor.meta.task not in ("token-classification", "ner"):
            raise ConfigError(
                f"{folder} is a {self.predictor.meta.task!r} model, not an NER model",
                where="--ner-model",
                fix="point at an artifact trained with task: token-classification",
            )
        self.label_map = {k.lower(): v for k, v in (label_map or DEFAULT_LABEL_MAP).items()}
        self.batch_size = batch_size

    def find_batch(self, texts: Sequence[str]) -> list[list[PiiSpan]]:
        out: list[list[PiiSpan]] = []
        predictions = self.predictor.predict_text(list(texts), batch_size=self.batch_size)
        for text, entities in zip(texts, predictions, strict=True):
            found = []
            for ent in entities:
                kind = self.label_map.get(ent.label.lower())
                if kind:
                    found.append(
                        PiiSpan(
                            kind,
                            ent.start,
                            ent.end,
                            text[ent.start : ent.end],
                            ent.score,
                            self.name,
                        )
                    )
            out.append(found)
        return out

    def find(self, text: str) -> list[PiiSpan]:
        return self.find_batch([text])[0]


# Letters glued to digits are codes, not words: 221B Baker Street, NW1 6XE, A4.
_EN_WORD = re.compile(r"(?<![0-9A-Za-z])[A-Za-z][A-Za-z'’-]*(?![A-Za-z'’0-9-])\.?|&")
# "and" is not one: "Ann Lee and Bo Chan" is two people more often than "Marks and Spencer" is one.
_CONNECTORS = frozenset(["of", "&", "de", "van", "von", "der", "la", "du", "da"])
_PERSON_CUES = frozenset(
    ["dear", "named", "called", "mr", "mrs", "ms", "dr", "prof", "hi", "hello"]
)


def _bare(word: str) -> str:
    return word.lower().rstrip(".")


def _english(text: str) -> list[PiiSpan]:
    words = [(m.start(), m.end(), m.group(0)) for m in _EN_WORD.finditer(text)]
    # A trailing full stop belongs to the word only for abbreviations (Inc., St., J.).
    fixed = []
    for s, e, w in words:
        if (
            w.endswith(".")
            and len(w) > 2
            and w.lower() not in lx.EN_ORG_SUFFIXES | lx.EN_LOCATION_SUFFIXES
            and _bare(w) not in lx.EN_TITLES
        ):
            e, w = e - 1, w[:-1]
        fixed.append((s, e, w))
    out: list[PiiSpan] = []
    i = 0
    while i < len(fixed):
        run = _capitalised_run(text, fixed, i)
        if not run:
            i += 1
            continue
        j = i + len(run)
        span = _classify_run(text, fixed, i, run)
        if span:
            out.append(span)
        i = j
    return out


def _capitalised_run(text: str, words: list[tuple[int, int, str]], i: int) -> list[int]:
    """Indices of the capitalised run starting at word i (connectors inside, split at non-names)."""
    run: list[int] = []
    k = i
    while k < len(words):
        s, _, w = words[k]
        if run and text[words[k - 1][1] : s].strip() not in ("", "&"):
            break  # punctuation between words ends the run
        name_like = w[0].isupper() and _bare(w) not in lx.EN_NOT_NAMES
        inner_connector = (
            run and w.lower() in _CONNECTORS and k + 1 < len(words) and words[k + 1][2][0].isupper()
        )
        if not (name_like or inner_connector):
            break
        run.append(k)
        k += 1
    while run and words[run[-1]][2].lower() in _CONNECTORS:
        run.pop()
    return run


def _classify_run(
    text: str, words: list[tuple[int, int, str]], i: int, run: list[int]
) -> PiiSpan | None:
    prev = _bare(words[i - 1][2]) if i > 0 else ""
    toks = [words[k][2] for k in run]
    titled = _bare(toks[0]) in lx.EN_TITLES
    if titled:
        run, toks = run[1:], toks[1:]
        if not run:
            return None
    start, end = words[run[0]][0], words[run[-1]][1]
    at_sentence_start = i == 0 or text[: words[i][0]].rstrip()[-1:] in '.!?:\n"“'
    # "Pennsylvania Avenue NW": a compass point after a street suffix is part of the street
    compass = len(toks) > 2 and _bare(toks[-1]) in ("n", "s", "e", "w", "ne", "nw", "se", "sw")
    last, first = toks[-2 if compass else -1].lower(), _bare(toks[0])
    kind, score = None, 0.0
    if (
        last in lx.EN_ORG_SUFFIXES
        or _bare(last) in lx.EN_ORG_SUFFIXES
        or (first in lx.EN_ORG_HEADS and len(toks) > 2 and toks[1].lower() == "of")
    ):
        kind, score = (ORG, 0.8) if len(toks) > 1 else (None, 0.0)
    elif _bare(last) in lx.EN_LOCATION_SUFFIXES and len(toks) > 1:
        kind, score = LOCATION, 0.8
        number = re.search(r"\b\d{1,5}[A-Za-z]?,?\s+$", text[:start])
        if number:  # a house number belongs to the street address
            start = number.start()
    elif titled or prev in _PERSON_CUES:
        kind, score = PERSON, 0.85
    elif prev in lx.EN_LOCATION_CUES and (len(toks) == 1 or prev in ("in", "near")):
        kind, score = (LOCATION, 0.65) if first not in lx.EN_FIRST_NAMES else (PERSON, 0.6)
    elif prev in lx.EN_ORG_CUES or (prev == "at" and len(toks) > 1):
        kind, score = ORG, 0.6
    elif len(toks) >= 2 and all(t[0].isupper() for t in toks if t.lower() not in _CONNECTORS):
        kind, score = PERSON, 0.7
    elif len(toks) == 1 and first in lx.EN_FIRST_NAMES:
        kind, score = PERSON, 0.6
    if kind is None or (len(toks) == 1 and toks[0].isupper() and len(toks[0]) > 1):
        return None  # a lone acronym (NASA, IBM) is too often not a name
    if all(len(t.rstrip(".")) == 1 for t in toks):
        return None  # initials alone are an abbreviation (D.O.B., U.S.), not a name
    if at_sentence_start and len(toks) == 1 and kind != PERSON:
        return None
    return PiiSpan(kind, start, end, text[start:end], score, "name-heuristic")


# A house number after a street: 建国路88号, 世纪大道100号院3号楼2单元501室.
_CN_HOUSE_NUMBER = re.compile(
    r"(?:\s*[0-9０-９]+(?:[-－][0-9０-９]+)?\s*(?:号楼|号院|号|弄|栋|幢|单元|楼|层|室))+"
)


def _cn_addresses(places: list[PiiSpan], text: str) -> list[PiiSpan]:
    """Touching place chunks are one address (上海市 + 浦东新区 + 世纪大道), with its house
    number: replaced piecewise, the parts left between the pieces would still locate someone."""
    merged: list[list[int]] = []
    for p in sorted(places, key=lambda p: p.start):
        if merged and p.start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], p.end)
        else:
            merged.append([p.start, p.end])
    out = []
    for s, e in merged:
        number = _CN_HOUSE_NUMBER.match(text, e)
        e = number.end() if number else e
        out.append(PiiSpan(LOCATION, s, e, text[s:e], 0.8, "name-heuristic"))
    return out


def _chinese(text: str) -> list[PiiSpan]:
    places = _cn_suffixed(text, lx.CN_LOC_SUFFIXES, LOCATION, 8)
    return (
        _cn_suffixed(text, lx.CN_ORG_SUFFIXES, ORG, 12)
        + _cn_addresses(places, text)
        + _cn_persons(text)
    )


def _cn_suffixed(text: str, suffixes: Sequence[str], kind: str, max_len: int) -> list[PiiSpan]:
    """Han chunk + suffix (华信科技有限公司, 绵阳市): walk back from the suffix to a stop char."""
    out = []
    for suffix in suffixes:
        for m in re.finditer(re.escape(suffix), text):
            s = m.start()
            while (
                s > 0
                and m.start() - s < max_len
                and (is_han(text[s - 1]) or text[s - 1].isalnum())
                and text[s - 1] not in lx.CN_CHUNK_STOP
                and text[s - 2 : s] not in lx.CN_CHUNK_STOP_WORDS
            ):
                s -= 1
            chunk = text[s : m.start()]
            if len(chunk) < 2 or text[m.start() - 1 : m.end()] in lx.CN_NOT_PLACES:
                continue
            out.append(PiiSpan(kind, s, m.end(), text[s : m.end()], 0.8, "name-heuristic"))
    return out


def _cn_persons(text: str) -> list[PiiSpan]:
    out = []
    for i, ch in enumerate(text):
        sur = 2 if text[i : i + 2] in lx.CN_COMPOUND_SURNAMES else 1 if ch in lx.CN_SURNAMES else 0
        if not sur:
            continue
        if i > 0 and is_han(text[i - 1]) and text[i - 1] not in lx.CN_NAME_LEFT:
            continue
        if text[i : i + 2] in lx.CN_COMMON_WORDS or text[i + 1 : i + 3] in lx.CN_COMMON_WORDS:
            continue
        for given in (2, 1):
            end = i + sur + given
            name = text[i:end]
            if len(name) != sur + given or not all(is_han(c) for c in name[sur:]):
                continue
            if any(c in lx.CN_NAME_STOP for c in name[sur:]):
                continue
            after = text[end : end + 2]
            title = after in lx.CN_TITLES
            if end == len(text) or not is_han(text[end]) or text[end] in lx.CN_NAME_FOLLOW or title:
                score = 0.85 if title else 0.75 if i == 0 or text[i - 1] in "叫：:" else 0.7
                out.append(PiiSpan(PERSON, i, end, name, score, "name-heuristic"))
                break
    return out


class HeuristicNameRecognizer:
    """Model-free PERSON / ORGANIZATION / LOCATION finder (see the module docstring for limits)."""

    name = "name-heuristic"
    entities: tuple[str, ...] = (PERSON, ORG, LOCATION)

    def find(self, text: str) -> list[PiiSpan]:
        return _english(text) + _chinese(text)
