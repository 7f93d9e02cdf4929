"""A user's gazetteer for mention replacement: `TYPE<TAB>mention` per line (blank lines and
lines starting with # are skipped). Every TYPE must be an entity type of the training data:
a mention of a type the model never learns would teach it nothing but noise."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from cotune.augment.words import has_cjk
from cotune.data.formats import read_text, text_lines
from cotune.errors import DataError


def read_gazetteer(
    path: Path, known_types: Collection[str], *, char_tokens: bool
) -> dict[str, list[list[str]]]:
    """Mentions by type; `char_tokens`: the corpus has one token per character (Chinese), so a
    mention written without spaces is split into characters."""
    if not path.is_file():
        raise DataError(
            "no such gazetteer file",
            where=f"data.augment.gazetteer: {path}",
            fix="give an existing file of TYPE<TAB>mention lines, or remove the key",
        )
    mentions: dict[str, list[list[str]]] = {}
    for number, line in enumerate(text_lines(read_text(path)), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        typ, sep, text = line.partition("\t")
        typ, text = typ.strip(), text.strip()
        where = f"{path}:{number}"
        if not sep or not typ or not text:
            raise DataError(
                f"gazetteer line {line!r} is not TYPE<TAB>mention",
                where=where,
                fix="write the entity type, one tab, then the mention",
            )
        if typ not in known_types:
            close = [t for t in known_types if t.lower() == typ.lower()]
            raise DataError(
                f"gazetteer type {typ!r} is not an entity type of the training data",
                where=where,
                fix=(f"write it as {close[0]!r}" if close else "remove the line or fix the type")
                + f" (the data's types: {', '.join(sorted(known_types))})",
            )
        words = text.split()
        if char_tokens and len(words) == 1 and has_cjk(text):
            words = list(text)
        mentions.setdefault(typ, []).append(words)
    if not mentions:
        raise DataError(
            "the gazetteer holds no mention", where=str(path), fix="write TYPE<TAB>mention lines"
        )
    return mentions
