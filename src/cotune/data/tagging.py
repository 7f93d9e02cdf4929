"""Tag schemes: detect IOB1 / IOB2 (BIO) / IOBES, validate, and convert everything to IOB2.

Inside cotune every token corpus is IOB2 (`B-X` opens an entity, `I-X` continues it), because that
is what seqeval's strict mode and the Hugging Face pipelines expect.
"""

from __future__ import annotations

from collections.abc import Sequence

from cotune.errors import DataError

SCHEMES = ("IOB1", "IOB2", "IOBES")


def split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '')."""
    if tag == "O":
        return "O", ""
    prefix, sep, typ = tag.partition("-")
    if not sep or prefix not in {"B", "I", "E", "S"} or not typ:
        raise ValueError(tag)
    return prefix, typ


def detect_scheme(sentences: Sequence[Sequence[str]]) -> str:
    """Guess the scheme of a corpus from all its tag sequences.

    IOBES if any E-/S- tag appears. IOB1 if B- is only ever used right after an entity of the same
    type (its one role in IOB1) and some entity opens with I-. Otherwise IOB2.
    """
    b_only_between = True
    i_opens = False
    for tags in sentences:
        prev = "O"
        for tag in tags:
            p, t = split_tag(tag)
            if p in {"E", "S"}:
                return "IOBES"
            pp, pt = split_tag(prev)
            if p == "B" and not (pp in {"B", "I"} and pt == t):
                b_only_between = False
            if p == "I" and not (pp in {"B", "I"} and pt == t):
                i_opens = True
            prev = tag
    return "IOB1" if i_opens and b_only_between else "IOB2"


def to_iob2(
    tags: Sequence[str], scheme: str, *, repair: bool = False, where: str = ""
) -> list[str]:
    """Convert one sentence's tags from `scheme` to IOB2.

    In IOB2 input an `I-X` that does not continue an `X` entity is an error, or, with
    `repair=True`, is turned into `B-X` (the conlleval reading of it).
    """
    out: list[str] = []
    prev_p, prev_t = "O", ""
    for k, tag in enumerate(tags):
        p, t = split_tag(tag)
        continues = prev_p in {"B", "I"} and prev_t == t
        if scheme == "IOBES":
            if p in {"B", "S"}:
                new = f"B-{t}"
            elif p in {"I", "E"}:
                new = f"I-{t}" if continues else _bad_continuation(tag, k, where, repair)
            else:
                new = "O"
            prev_p, prev_t = p, t  # E-/S- close the entity: prev_p is then not B/I
        elif scheme == "IOB1":
            new = f"I-{t}" if p == "I" and continues else (f"B-{t}" if p in {"B", "I"} else "O")
            prev_p, prev_t = p, t
        elif scheme == "IOB2":
            if p in {"E", "S"}:
                raise DataError(
                    f"tag {tag!r} is IOBES, but the corpus was read as IOB2",
                    where=where,
                    fix="set data.tag_scheme: IOBES (or auto)",
                )
            new = tag
            if p == "I" and not continues:
                new = _bad_continuation(tag, k, where, repair)
            prev_p, prev_t = split_tag(new)
        else:
            raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {SCHEMES}")
        out.append(new)
    return out


def _bad_continuation(tag: str, index: int, where: str, repair: bool) -> str:
    _, t = split_tag(tag)
    if repair:
        return f"B-{t}"
    raise DataError(
        f"{tag!r} at token {index + 1} continues no {t} entity (no B-{t} before it)",
        where=where,
        fix="correct the tag, or read it as the start of an entity: data.repair_tags: true "
        "in a run config, --repair-tags for cotune evaluate",
    )


def check_tag(tag: str, where: str) -> None:
    try:
        split_tag(tag)
    except ValueError:
        raise DataError(
            f"unknown tag {tag!r}: tags must be 'O' or PREFIX-TYPE with PREFIX one of B, I, E, S",
            where=where,
            fix="fix the tag column (is the file token<TAB>tag?)",
        ) from None
