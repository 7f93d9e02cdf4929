"""`data.augment` in a run: the recipes load their splits through here, so augmentation runs
after the split and the limit, on the training split only (never dev or test), and is recorded
in the split record that the artifact and its card keep."""

from __future__ import annotations

import dataclasses

from cotune.augment.apply import augment_split
from cotune.config.schema import DataConfig
from cotune.data.examples import Provenance, Splits
from cotune.data.load import load_splits


def load_augmented_splits(cfg: DataConfig) -> tuple[Splits, Provenance]:
    splits, provenance = load_splits(cfg)
    if cfg.augment is None:
        return splits, provenance
    train, added = augment_split(splits.train, cfg.augment)
    record = {**splits.record, "augment": added}
    return dataclasses.replace(splits, train=train, record=record), provenance
