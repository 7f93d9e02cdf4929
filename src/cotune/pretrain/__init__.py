"""Deprecated package: domain adaptation moved into the layers it belongs to, and this package
re-exports its public names for one release.

- the run config: `cotune.config.pretrain` (`PretrainConfig`, `load_pretrain_config`);
- the recipe: `cotune.recipes.pretrain` (`pretrain`);
- vocabulary extension for a run: `cotune.models.extend` (`extend_for_run`, `extend_for_split`);
- corpus reading: `cotune.data.texts`; masking and budgets: `cotune.training.mlm`,
  `cotune.training.budget`; the backbone card: `cotune.models.card`; tracking:
  `cotune.tracking.pretrain`.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import Any

_MOVED = {
    "PretrainConfig": "cotune.config.pretrain",
    "load_pretrain_config": "cotune.config.pretrain",
    "pretrain": "cotune.recipes.pretrain",
    "extend_for_run": "cotune.models.extend",
    "extend_for_split": "cotune.models.extend",
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module 'cotune.pretrain' has no attribute {name!r}")
    warnings.warn(
        f"cotune.pretrain.{name} moved to {_MOVED[name]}.{name}; the old path goes in the next "
        "release",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(import_module(_MOVED[name]), name)


__all__ = sorted(_MOVED)
