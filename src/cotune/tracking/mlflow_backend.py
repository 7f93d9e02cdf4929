"""MLflow backend: a local SQLite store by default (embedded, no server), or any tracking URI.

Uses `MlflowClient` rather than the fluent `mlflow.start_run` API: no process-global active
run, so a study's parent run and its trial runs can be open at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from cotune.errors import ArtifactError, ConfigError
from cotune.tracking.base import RunRecord, RunStatus
from cotune.tracking.locate import mlflow_uri, sqlite_path

T = TypeVar("T")
# MLflow's per-call limits for log_batch
MAX_PARAMS, MAX_METRICS, MAX_TAGS = 100, 1000, 100
MAX_PARAM_VALUE = 6000


def client(uri: str | None = None) -> Any:
    """An MlflowClient on `uri` for tracking and the registry alike (one store)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # offline machines: no phoning
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic"):  # after the import: mlflow sets its levels on import
        logging.getLogger(name).setLevel(logging.WARNING)

    resolved = mlflow_uri(uri)
    db = sqlite_path(resolved)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient(tracking_uri=resolved, registry_uri=resolved)
    except MlflowException as e:  # an unsupported scheme (bogus://x) is refused here
        raise ConfigError(
            f"MLflow cannot open the store {resolved!r}: {str(e).strip().split('. ')[0]}",
            where="--uri / tracking.uri",
            fix="use sqlite:///path/mlruns.db, a path ending in .db, or http://host:5000",
        ) from None


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def experiment_id(mlc: Any, name: str) -> str:
    """The experiment's id, created on first use. A SQLite store keeps its artifacts in
    `mlartifacts/` beside the .db file (not in the working directory, MLflow's default)."""
    from mlflow.exceptions import MlflowException

    exp = mlc.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    db = sqlite_path(mlc.tracking_uri)
    location = str(db.parent / "mlartifacts" / name) if db is not None else None
    try:
        return str(mlc.create_experiment(name, artifact_location=location))
    except MlflowException:  # another worker created it between the two calls
        return str(mlc.get_experiment_by_name(name).experiment_id)


class MlflowTracker:
    backend = "mlflow"

    def __init__(self, uri: str | None = None, experiment: str = "cotune") -> None:
        self._client = client(uri)
        self.uri = self._client.tracking_uri
        self.experiment = experiment
        self._run_id: str | None = None

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def _id(self) -> str:
        if self._run_id is None:
            raise RuntimeError("no run started: call start() or attach() first")
        return self._run_id

    def start(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        exp = experiment_id(self._client, self.experiment)
        run = self._client.create_run(exp, run_name=name, tags=dict(tags or {}))
        self._run_id = str(run.info.run_id)
        return self._run_id

    def attach(self, run_id: str) -> None:
        self._run_id = run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_VALUE]) for k, v in params.items()]
        for chunk in _chunks(items, MAX_PARAMS):
            self._client.log_batch(self._id(), params=list(chunk))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        for chunk in _chunks(items, MAX_METRICS):
            self._client.log_batch(self._id(), metrics=list(chunk))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)) for k, v in tags.items()]
        for chunk in _chunks(items, MAX_TAGS):
            self._client.log_batch(self._id(), tags=list(chunk))

    def log_file(self, path: Path, folder: str = "") -> None:
        self._client.log_artifact(self._id(), str(path), artifact_path=folder or None)

    def log_folder(self, path: Path, folder: str = "") -> None:
        self._client.log_artifacts(self._id(), str(path), artifact_path=folder or None)

    def end(self, status: RunStatus = "FINISHED") -> None:
        if self._run_id is not None:
            self._client.set_terminated(self._run_id, status=status)

    def location(self) -> dict[str, Any]:
        return {
            "backend": "mlflow",
            "uri": self.uri,
            "experiment": self.experiment,
            "run_id": self._run_id,
        }


class MlflowStore:
    def __init__(self, uri: str | None = None) -> None:
        self._client = client(uri)
        self.uri = self._client.tracking_uri
        self._exp_names: dict[str, str] = {}

    def _experiments(self, name: str | None) -> list[str]:
        exps = self._client.search_experiments()
        self._exp_names = {str(e.experiment_id): e.name for e in exps}
        if name is None:
            return list(self._exp_names)
        ids = [i for i, n in self._exp_names.items() if n == name]
        if not ids:
            raise ArtifactError(
                f"no experiment named {name!r} in {self.uri}",
                fix=f"use one of {sorted(self._exp_names.values())}",
            )
        return ids

    def _record(self, run: Any) -> RunRecord:
        info, data = run.info, run.data
        if info.experiment_id not in self._exp_names:
            self._experiments(None)
        return RunRecord(
            run_id=info.run_id,
            name=info.run_name or "",
            experiment=self._exp_names.get(info.experiment_id, info.experiment_id),
            status=info.status,
            start_time=info.start_time / 1000 if info.start_time else None,
            end_time=info.end_time / 1000 if info.end_time else None,
            params=dict(data.params),
            metrics={k: float(v) for k, v in data.metrics.items()},
            tags={k: v for k, v in data.tags.items() if not k.startswith("mlflow.")},
            artifact_uri=info.artifact_uri,
        )

    def list_runs(self, experiment: str | None = None, limit: int = 50) -> list[RunRecord]:
        ids = self._experiments(experiment)
        if not ids:
            return []
        runs = self._client.search_runs(
            ids, max_results=limit, order_by=["attributes.start_time DESC"]
        )
        return [self._record(r) for r in runs]

    def get_run(self, run_id: str) -> RunRecord:
        from mlflow.exceptions import MlflowException

        try:
            return self._record(self._client.get_run(run_id))
        except MlflowException:
            pass
        hits = [r for r in self.list_runs(limit=5000) if r.run_id.startswith(run_id)]
        if len(hits) == 1:
            return hits[0]
        what = "no run" if not hits else f"{len(hits)} runs"
        raise ArtifactError(
            f"{what} with id {run_id!r} in {self.uri}",
            fix="see `cotune runs list` for ids (a unique prefix is enough), or pass --uri",
        )

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self._client.get_metric_history(run_id, key)]

    def fetch_file(self, run_id: str, name: str, dest: Path) -> Path | None:
        from mlflow.exceptions import MlflowException

        dest.mkdir(parents=True, exist_ok=True)
        try:
            return Path(self._client.download_artifacts(run_id, name, str(dest)))
        except (MlflowException, OSError):
            return None
