"""Load a `cotune distill` config: YAML + dotted overrides, checked against `DistillConfig`.

Same rules as run configs (config/load.py): unknown keys are errors naming the key and line,
relative paths in the file (data files, the teacher) are relative to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cotune.config.load import _line_of, _suggest, apply_overrides
from cotune.distill.config import DistillConfig
from cotune.errors import ConfigError


def _relative_to(base: Path, section: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(section, dict):
        return
    for key in keys:
        val = section.get(key)
        if isinstance(val, str) and not Path(val).is_absolute():
            cand = base / val
            if cand.exists() and not Path(val).exists():
                section[key] = str(cand)


def load_distill_config(path: str | Path, overrides: dict[str, Any] | None = None) -> DistillConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError("no such config file", where=str(path), fix="check the path")
    text = path.read_text(encoding="utf-8")
    try:
        tree = yaml.compose(text)
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {getattr(e, 'problem', e)}", where=str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError("a distill config is a YAML mapping", where=str(path))
    raw = apply_overrides(raw, overrides or {})
    _relative_to(path.parent, raw.get("data"), ("train", "dev", "test", "source"))
    _relative_to(path.parent, raw.get("distill"), ("teacher",))
    try:
        return DistillConfig.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [x for x in err["loc"] if not str(x).startswith("function-after")]
        key = ".".join(str(x) for x in loc) or "(top level)"
        line = _line_of(tree, loc)
        where = f"{path}:{line}" if line else str(path)
        if err["type"] == "extra_forbidden":
            what, fix = f"unknown key {key!r}", _suggest(DistillConfig, loc) + "remove or rename it"
        else:
            what, fix = f"{key}: {err['msg']} (got {err.get('input')!r})", f"set {key} correctly"
        raise ConfigError(what, where=where, fix=fix) from None
