"""Load a `cotune distill` config: the run-config loader with the distill schema.

Same rules as run configs: unknown keys are errors naming the key and line; relative paths in
the file (data files, the teacher) are relative to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotune.config.load import RELATIVE_PATHS, load_config
from cotune.distill.config import DistillConfig


def load_distill_config(path: str | Path, overrides: dict[str, Any] | None = None) -> DistillConfig:
    cfg = load_config(path, overrides, DistillConfig, {**RELATIVE_PATHS, "distill": ("teacher",)})
    assert isinstance(cfg, DistillConfig)
    return cfg
