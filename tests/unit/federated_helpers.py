"""Builders shared by the federated tests: configs over the tiny backbone and synthetic data."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from cotune.data.examples import Splits, TextExample
from cotune.federated.config import FederatedConfig
from cotune.federated.local import LocalParty
from cotune.federated.server import ServerModel

from .helpers import CLS, NER

POS = ["great", "good", "fine", "loves", "likes"]
NEG = ["bad", "terrible", "awful", "hates"]
FILL = ["the", "a", "film", "movie", "this", "it", "was", "is", "today", "city"]


def fed_config(
    backbone: Path,
    out: Path,
    task: str = "cls",
    method: str = "full",
    train: dict[str, Any] | None = None,
    name: str | None = None,
    **federation: Any,
) -> FederatedConfig:
    data = NER if task == "ner" else CLS
    return FederatedConfig.model_validate(
        {
            "name": name,
            "task": "token-classification" if task == "ner" else "sequence-classification",
            "data": {"train": data, "dev": data, "test": data},
            "model": {"backbone": str(backbone), "max_length": 16, "window_context": 2},
            "method": {"name": method},
            "train": {"batch_size": 4, "lr": 1e-3, "seed": 7, "warmup_ratio": 0.0, **(train or {})},
            "output_dir": out,
            "federation": {"rounds": 2, "local_epochs": 1, "min_clients": 1, **federation},
        }
    )


def sentiment(n: int, seed: int, flip: bool = False) -> list[TextExample]:
    """Synthetic polarity data the tiny model learns in a few steps: the label is the sentiment
    word's; `flip` swaps labels (a party with label noise)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        word = rng.choice(POS if label == "pos" else NEG)
        words = [rng.choice(FILL) for _ in range(3)]
        words.insert(rng.randrange(4), word)
        if flip:
            label = "neg" if label == "pos" else "pos"
        out.append(TextExample(" ".join(words), [label], f"synthetic:{seed}:{i}"))
    return out


def sentiment_splits(dev_n: int = 24) -> Splits:
    dev = sentiment(dev_n, seed=999)
    return Splits(
        train=sentiment(8, seed=998),
        dev=dev,
        test=dev,
        record={"method": "synthetic"},
        kind="text",
        labels=["neg", "pos"],
    )


def make_parties(
    cfg: FederatedConfig, model: ServerModel, data: dict[str, list[TextExample]]
) -> dict[str, LocalParty]:
    return {
        name: LocalParty(cfg, examples, model.labels, name=name) for name, examples in data.items()
    }
