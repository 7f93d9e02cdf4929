"""Config sections for experiment tracking (`tracking:`) and hyper-parameter search (`tune:`).

Kept out of schema.py so that file stays the map of a run; RunConfig imports both sections.
"""

from __future__ import annotations

import getpass
import os
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from cotune.config.section import Section


def default_contributors() -> list[str]:
    """$COTUNE_CONTRIBUTORS (comma-separated), else the OS user: somebody made every model."""
    env = os.environ.get("COTUNE_CONTRIBUTORS", "")
    names = [n.strip() for n in env.split(",") if n.strip()]
    if names:
        return names
    try:
        return [getpass.getuser()]
    except (KeyError, OSError):  # no passwd entry (some containers)
        return []


class TrackingConfig(Section):
    backend: Literal["auto", "mlflow", "jsonl", "none"] = Field(
        "auto",
        description="Where runs are logged. auto: $COTUNE_TRACKING if set, else mlflow when "
        "installed, else jsonl (plain files, for minimal installs).",
    )
    uri: str | None = Field(
        None,
        description="mlflow: tracking URI (sqlite:///path.db, http://host:5000, or a .db path); "
        "jsonl: a folder. Default: $MLFLOW_TRACKING_URI, else $COTUNE_HOME/mlruns.db, else "
        "./mlruns.db (jsonl: ./cotune-runs).",
    )
    experiment: str = Field("cotune", description="Experiment the run is filed under.")
    copy_artifact: bool = Field(
        False,
        description="Copy the whole artifact folder (weights too) into the tracking store. "
        "Default: the folder is logged by path and only its small files (config, metrics, "
        "card, curves) are copied.",
    )
    contributors: list[str] = Field(
        default_factory=default_contributors,
        description="Who made this model (run tags and model card); default "
        "$COTUNE_CONTRIBUTORS or the OS user.",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags for the run.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """`tracking: none` / `tracking: jsonl` (and YAML's `off`, i.e. false) name a backend."""
        if data is None or data is False:
            return {"backend": "none"}
        if data is True:
            return {"backend": "auto"}
        if isinstance(data, str):
            return {"backend": data}
        return data


class ParamSpec(Section):
    """One searched hyper-parameter; the key in `tune.params` is its dotted config path."""

    type: Literal["float", "int", "categorical"] = Field(..., description="Kind of value.")
    low: float | None = Field(None, description="Lower bound (float/int).")
    high: float | None = Field(None, description="Upper bound, inclusive (float/int).")
    log: bool = Field(False, description="Sample on a log scale (float/int, low > 0).")
    step: float | None = Field(None, gt=0, description="Grid step (float/int; not with log).")
    choices: list[Any] | None = Field(None, description="Values to choose from (categorical).")

    @model_validator(mode="after")
    def _bounds(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty `choices` list")
            bad = [c for c in self.choices if not isinstance(c, str | int | float | bool | None)]
            if bad:
                raise ValueError(f"choices must be plain values (str, number, bool): {bad[0]!r}")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs `low` and `high`")
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("log scale needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("give `log` or `step`, not both")
        return self


class TuneConfig(Section):
    params: dict[str, ParamSpec] = Field(
        ..., min_length=1, description="Search space: dotted config path (train.lr) -> range."
    )
    trials: int = Field(20, ge=1, description="Trials this worker runs (`--trials` overrides).")
    metric: str | None = Field(
        None, description="Dev metric to optimise (default: the run's train.metric)."
    )
    direction: Literal["maximize", "minimize"] = Field("maximize", description="Optimise how.")
    study_name: str | None = Field(None, description="Study name (default: the run name).")
    storage: str | None = Field(
        None,
        description="Optuna storage: an RDB URL (sqlite:///x.db, postgresql://...) that several "
        "machines can share. Default: sqlite in OUTPUT_DIR/STUDY/optuna.db.",
    )
    seed: int = Field(0, description="Seed of the TPE sampler.")
    pruner: Literal["median", "none"] = Field(
        "median", description="Stop trials whose dev metric falls below the median of others."
    )
    pruner_startup_trials: int = Field(
        2, ge=0, description="Trials that finish before pruning starts."
    )
    pruner_warmup_evals: int = Field(
        1, ge=0, description="Evaluations of a trial before it may be pruned."
    )
    keep: Literal["best", "all"] = Field(
        "best", description="Trial artifacts kept on disk: the best only, or all."
    )
    register_best: bool = Field(
        True, description="Register the best trial's artifact in the model registry."
    )
    model_name: str | None = Field(
        None, description="Registered model name (default: the study name)."
    )
    timeout_s: float | None = Field(
        None, gt=0, description="Stop starting trials after this many seconds."
    )


def check_tune_paths(tune: TuneConfig | None, model: type[BaseModel]) -> None:
    """Every searched key must name a config field (method.* may be any method option)."""
    if tune is None:
        return
    for dotted in tune.params:
        node: type[BaseModel] | None = model
        parts = dotted.split(".")
        if parts[0] == "tune":
            raise ValueError(f"tune.params.{dotted}: the search cannot tune its own settings")
        for i, part in enumerate(parts):
            if node is None:
                raise ValueError(f"tune.params.{dotted}: {'.'.join(parts[:i])} is not a section")
            if node.model_config.get("extra") == "allow" and part not in node.model_fields:
                break  # method options are checked by the method's schema per trial
            field = node.model_fields.get(part)
            if field is None:
                raise ValueError(
                    f"tune.params.{dotted}: no config key {part!r} (use paths like train.lr)"
                )
            ann = field.annotation
            node = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        else:
            if node is not None:
                raise ValueError(f"tune.params.{dotted}: that is a section, not a value")
