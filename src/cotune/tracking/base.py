"""The tracking seam: a `Tracker` writes one run at a time, a `RunStore` reads runs back.

Backends (mlflow, jsonl, none) implement both; recipes only see these protocols.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]

# Files of an artifact folder that are copied into the store even when the folder itself is
# logged by path: small, and enough to reproduce the run and read its card after the folder is
# gone. The weights (tens of MB per run, hundreds in a search) stay where they are.
SMALL_ARTIFACT_FILES = (
    "cotune.json",
    "run_config.yaml",
    "metrics.json",
    "history.jsonl",
    "README.md",
    "training_curve.png",
    "confusion_test.png",
)


class RunStopped(Exception):
    """Raised by a callback to end a run on purpose (e.g. a pruned trial): status KILLED."""


def status_of(exc: BaseException | None) -> RunStatus:
    if exc is None:
        return "FINISHED"
    return "KILLED" if isinstance(exc, KeyboardInterrupt | RunStopped) else "FAILED"


class Tracker(Protocol):
    """Writes one run: start (or attach to) it, log to it, end it."""

    backend: str

    @property
    def run_id(self) -> str | None: ...

    def start(self, name: str, tags: Mapping[str, str] | None = None) -> str: ...

    def attach(self, run_id: str) -> None:
        """Log to an existing run (e.g. the test score of the best trial after a search)."""

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def set_tags(self, tags: Mapping[str, str]) -> None: ...

    def log_file(self, path: Path, folder: str = "") -> None:
        """Copy one file into the run's artifacts (under `folder`)."""

    def log_folder(self, path: Path, folder: str = "") -> None:
        """Copy a whole folder into the run's artifacts (under `folder`)."""

    def end(self, status: RunStatus = "FINISHED") -> None: ...

    def location(self) -> dict[str, Any]:
        """{backend, uri, experiment, run_id}: enough to find this run again."""


@dataclass
class RunRecord:
    """One run as read back from a store."""

    run_id: str
    name: str
    experiment: str
    status: str
    start_time: float | None  # seconds since the epoch
    end_time: float | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # latest value of each
    tags: dict[str, str] = field(default_factory=dict)
    artifact_uri: str | None = None

    @property
    def started(self) -> str:
        if self.start_time is None:
            return ""
        return dt.datetime.fromtimestamp(self.start_time).isoformat(sep=" ", timespec="seconds")

    @property
    def duration_s(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "started": self.started, "duration_s": self.duration_s}


class RunStore(Protocol):
    """Reads runs back (`cotune runs`, `cotune reproduce`)."""

    def list_runs(self, experiment: str | None = None, limit: int = 50) -> list[RunRecord]: ...

    def get_run(self, run_id: str) -> RunRecord:
        """By id or unique id prefix; raises ArtifactError when there is none."""

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]: ...

    def fetch_file(self, run_id: str, name: str, dest: Path) -> Path | None:
        """Copy the run's artifact file `name` into folder `dest`; None when it has none."""


class NullTracker:
    """`tracking.backend: none`: every call is accepted and nothing is written."""

    backend = "none"

    def __init__(self) -> None:
        self._run_id: str | None = None

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def start(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        return ""

    def attach(self, run_id: str) -> None:
        self._run_id = run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        pass

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass

    def log_file(self, path: Path, folder: str = "") -> None:
        pass

    def log_folder(self, path: Path, folder: str = "") -> None:
        pass

    def end(self, status: RunStatus = "FINISHED") -> None:
        pass

    def location(self) -> dict[str, Any]:
        return {"backend": "none", "uri": None, "experiment": None, "run_id": None}


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'lr': 1e-4}} -> {'train.lr': 1e-4}: config keys as params, one name each."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def numeric(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The plain numbers of a metrics dict (bools and nested tables left out)."""
    return {
        f"{prefix}{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
