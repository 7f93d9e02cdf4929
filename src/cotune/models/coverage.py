"""`cotune data show`: provenance, split, statistics and unknown-token rate under a tokenizer."""

from __future__ import annotations

from typing import Any

from transformers import AutoTokenizer

from cotune.config.schema import DataConfig, SplitConfig
from cotune.data.load import load_splits
from cotune.data.stats import describe, unk_rate
from cotune.models.catalog import resolve_backbone


def data_summary(name: str, *, model: str = "minilm-l6", seed: int = 13) -> dict[str, Any]:
    cfg = DataConfig(source=name, split=SplitConfig(seed=seed))
    splits, provenance = load_splits(cfg)
    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone(model))
    everything = splits.train + splits.dev + splits.test
    return {
        "name": name,
        "kind": splits.kind,
        "provenance": provenance.to_dict(),
        "split": splits.record,
        "stats": {
            "all": describe(everything),
            **{s: describe(getattr(splits, s)) for s in ("train", "dev", "test")},
        },
        "unk_rate": {"tokenizer": model, "rate": round(unk_rate(everything, tokenizer), 4)},
    }
