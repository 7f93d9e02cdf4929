"""The in-memory shape of labelled data, shared by every reader and task."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["tokens", "text"]


@dataclass(frozen=True)
class TokenExample:
    """One sentence for token classification: words and one tag per word (IOB2 after reading)."""

    tokens: list[str]
    tags: list[str]
    origin: str = ""  # "file:line" of the sentence's first token, for error messages


@dataclass(frozen=True)
class TextExample:
    """One text for sequence classification; `labels` has one entry unless multi-label."""

    text: str
    labels: list[str]
    origin: str = ""


Example = TokenExample | TextExample


@dataclass(frozen=True)
class Provenance:
    """Where a corpus came from, recorded in every run and card."""

    name: str
    files: dict[str, str]  # file path (as read) -> sha256
    package: str | None = None
    package_version: str | None = None
    licence: str = "unknown: check the source before redistributing"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Corpus:
    """A labelled corpus as read, before splitting."""

    kind: Kind
    examples: list[Example]
    provenance: Provenance
    tag_scheme: str | None = (
        None  # for token corpora: the scheme found in the file (IOB1/IOB2/IOBES)
    )
    multi_label: bool = False
    # A source may ship its own split (e.g. separate train/dev/test files).
    predefined: dict[str, list[Example]] | None = None


@dataclass
class Splits:
    """train/dev/test plus a record that lets anyone rebuild them."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]
    record: dict[str, Any]
    kind: Kind = "tokens"
    multi_label: bool = False
    labels: list[str] = field(default_factory=list)  # what the model outputs (from train)
