"""One registry of augmentation operations, keyed by the kind of data they change.

An operation is one function `(example, context, rng) -> example | None` (None: it found
nothing to change) registered with `@operation(kind, name, keeps_entities=...)`. Adding one is
one module plus its import in `cotune.augment.__init__`; the registry is the list.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cotune.data.examples import Example, Kind

OperationFn = Callable[[Any, "AugmentContext", random.Random], Example | None]


@dataclass(frozen=True)
class Operation:
    kind: Kind  # "tokens" (NER) or "text" (classification)
    name: str
    fn: OperationFn
    # promises the same entity types, in the same order and number (NER operations)
    keeps_entities: bool
    summary: str


@dataclass
class AugmentContext:
    """What the operations draw from: built from the training split only (and the gazetteer)."""

    ratio: float
    synonyms: Any  # a SynonymSource (cotune.augment.synonyms)
    tokens_by_tag: dict[str, list[str]] = field(default_factory=dict)
    mentions_by_type: dict[str, list[list[str]]] = field(default_factory=dict)


OPERATIONS: dict[Kind, dict[str, Operation]] = {"tokens": {}, "text": {}}


def operation(
    kind: Kind, name: str, *, keeps_entities: bool, summary: str
) -> Callable[[OperationFn], OperationFn]:
    def register(fn: OperationFn) -> OperationFn:
        if name in OPERATIONS[kind]:
            raise ValueError(f"augmentation operation {kind}/{name} is registered twice")
        OPERATIONS[kind][name] = Operation(kind, name, fn, keeps_entities, summary)
        return fn

    return register
