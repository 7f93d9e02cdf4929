"""The search space: `tune.params` (dotted config path -> range) turned into trial configs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import optuna

from cotune.config.load import apply_overrides, validate
from cotune.config.schema import RunConfig
from cotune.config.tracking import ParamSpec


def suggest(trial: optuna.Trial, params: dict[str, ParamSpec]) -> dict[str, Any]:
    """One value per searched key; the Optuna parameter name is the dotted config path."""
    values: dict[str, Any] = {}
    for path, spec in params.items():
        if spec.type == "categorical":
            assert spec.choices is not None
            values[path] = trial.suggest_categorical(path, spec.choices)
            continue
        assert spec.low is not None and spec.high is not None  # checked by ParamSpec
        if spec.type == "int":
            values[path] = trial.suggest_int(
                path, int(spec.low), int(spec.high), log=spec.log, step=int(spec.step or 1)
            )
        else:
            values[path] = trial.suggest_float(
                path, spec.low, spec.high, log=spec.log, step=spec.step
            )
    return values


def trial_config(
    base: RunConfig, values: dict[str, Any], *, folder: Path, name: str, tags: dict[str, str]
) -> RunConfig:
    """`base` with the trial's values set, written to FOLDER/NAME, without the `tune` section
    (a trial is a plain run: `cotune train` or `cotune reproduce` can re-run its config)."""
    raw = copy.deepcopy(base.model_dump(mode="json"))
    raw["tune"] = None
    raw["name"] = name
    raw["output_dir"] = str(folder)
    raw["tracking"]["tags"] = {**raw["tracking"].get("tags", {}), **tags}
    return validate(apply_overrides(raw, values), source=f"tune trial {name} ({values})")
