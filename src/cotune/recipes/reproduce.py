"""Reproduce recipe: re-run a run from its logged config and split; report the metric difference.

The origin may be an artifact folder, a registry reference (NAME:VERSION, NAME@ALIAS) or a
tracked run id (a unique prefix will do). The config comes from the artifact's cotune.json when
the folder is still there, else from the copy logged with the run. The split is re-derived from
the config's seed and checked against the recorded index fingerprints, and the data against the
recorded file hashes, so a difference in numbers can be told apart from a difference in data.
"""

from __future__ import annotations

import copy
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cotune.artifact.meta import META_FILE
from cotune.config.load import validate
from cotune.errors import ArtifactError, CotuneError
from cotune.recipes.finetune import finetune
from cotune.tasks.base import default_metric
from cotune.tracking.base import Tracker, numeric
from cotune.tracking.locate import mlflow_installed
from cotune.tracking.run import open_store, read_tracking_file


@dataclass
class Origin:
    """What a run was: its config, recorded split and data, and its metrics."""

    ref: str
    kind: str  # artifact | version | run
    config: dict[str, Any]
    metrics: dict[str, Any]
    split: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    folder: str | None = None


def _from_folder(ref: str, kind: str, folder: Path, run_id: str | None = None) -> Origin:
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    metrics_file = folder / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    recorded = read_tracking_file(folder) or {}
    return Origin(
        ref=ref,
        kind=kind,
        config=meta["config"],
        metrics=metrics,
        split=meta.get("data", {}).get("split", {}),
        provenance=meta.get("data", {}).get("provenance", {}),
        run_id=run_id or recorded.get("run_id"),
        folder=str(folder.resolve()),
    )


def _from_run(ref: str, run_id: str, *, backend: str, uri: str | None) -> Origin:
    store = open_store(backend, uri)
    run = store.get_run(run_id)
    folder = run.tags.get("cotune.artifact_path")
    if folder and (Path(folder) / META_FILE).is_file():
        return _from_folder(ref, "run", Path(folder), run.run_id)
    with tempfile.TemporaryDirectory() as tmp:
        got = {
            name: store.fetch_file(run.run_id, name, Path(tmp) / name.replace("/", "_"))
            for name in ("artifact/cotune.json", "artifact/metrics.json", "config.yaml")
        }
        if got["artifact/cotune.json"] is not None:
            origin = _from_folder(ref, "run", got["artifact/cotune.json"].parent, run.run_id)
            origin.folder = None
            if got["artifact/metrics.json"] is not None:
                origin.metrics = json.loads(got["artifact/metrics.json"].read_text("utf-8"))
            return origin
        if got["config.yaml"] is None:
            raise ArtifactError(
                f"run {run.run_id} has neither its artifact folder nor a logged config",
                fix="reproduce from the artifact folder or a run logged by cotune",
            )
        config = yaml.safe_load(got["config.yaml"].read_text(encoding="utf-8"))
    # a run that never finished: only its logged metrics are there to compare with
    metrics: dict[str, Any] = {"dev": {}, "test": {}}
    for key, value in run.metrics.items():
        for split, prefix in (("dev", "final_dev_"), ("test", "test_")):
            if key.startswith(prefix):
                metrics[split][key[len(prefix) :]] = value
    return Origin(ref, "run", config, metrics, run_id=run.run_id)


def resolve_origin(ref: str, *, backend: str = "auto", uri: str | None = None) -> Origin:
    """An artifact folder, a registry reference, or a run id (in that order of trying)."""
    path = Path(ref)
    if (path / META_FILE).is_file():
        return _from_folder(ref, "artifact", path)
    looks_registered = ref.startswith("models:/") or ":" in ref or "@" in ref
    if looks_registered and mlflow_installed():
        from cotune.registry import ModelRegistry

        info = ModelRegistry(uri).get(ref)
        source = Path(info.source)
        if (source / META_FILE).is_file():
            return _from_folder(ref, "version", source, info.run_id)
        if info.run_id:
            origin = _from_run(ref, info.run_id, backend="mlflow", uri=uri)
            origin.kind = "version"
            return origin
        raise ArtifactError(f"{ref}: its folder {info.source} is gone and it names no run")
    try:
        return _from_run(ref, ref, backend=backend, uri=uri)
    except CotuneError as run_error:
        if not mlflow_installed():
            raise
        from cotune.registry import ModelRegistry

        try:  # a bare registered model name: its latest version
            return resolve_origin(f"{ModelRegistry(uri).get(ref).ref}", backend=backend, uri=uri)
        except CotuneError:
            raise ArtifactError(
                f"{ref!r} is not an artifact folder, a registered model, or a run id: {run_error}",
                fix="pass a folder, NAME:VERSION, NAME@ALIAS, or a run id from `cotune runs list`",
            ) from None


@dataclass
class Reproduction:
    origin: str
    original_run: str | None
    reproduced_run: str | None
    folder: str
    metric: str
    split: str  # the split compared: test, or dev when the original has no test score
    original: dict[str, float]
    reproduced: dict[str, float]
    diff: dict[str, float]
    split_match: bool | None
    data_match: bool | None
    tolerance: float
    within_tolerance: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _repro_config(origin: Origin, output_dir: Path | None, backend: str, uri: str | None) -> Any:
    raw = copy.deepcopy(origin.config)
    raw["name"] = f"{raw.get('name') or 'run'}-reproduce"
    raw["tune"] = None
    if output_dir is not None:
        raw["output_dir"] = str(output_dir)
    tracking = raw.setdefault("tracking", {})
    tags = {
        k: v
        for k, v in (tracking.get("tags") or {}).items()
        if not k.startswith(("cotune.", "mlflow."))  # a trial's study links are not ours
    }
    tracking["tags"] = {
        **tags,
        "cotune.kind": "reproduce",
        "cotune.reproduces": origin.run_id or origin.ref,
    }
    if backend != "auto":
        tracking["backend"] = backend
    if uri:
        tracking["uri"] = uri
    return validate(raw, source=f"logged config of {origin.ref}")


def _same(a: Any, b: Any) -> bool | None:
    return None if not a or not b else a == b


def reproduce(
    ref: str,
    *,
    backend: str = "auto",
    uri: str | None = None,
    output_dir: Path | None = None,
    tolerance: float = 0.005,
    progress: bool | None = None,
    tracker: Tracker | None = None,
) -> Reproduction:
    """Re-train `ref` from its logged config; compare test (else dev) metrics with the original.

    `tolerance` is on the main metric, as a fraction (0.005 = half a point of F1/accuracy).
    """
    origin = resolve_origin(ref, backend=backend, uri=uri)
    cfg = _repro_config(origin, output_dir, backend, uri)
    out = finetune(cfg, overwrite=True, progress=progress, tracker=tracker)
    new_metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    new_meta = json.loads((out / META_FILE).read_text(encoding="utf-8"))
    split = "test" if origin.metrics.get("test") else "dev"
    old = numeric(origin.metrics.get(split, {}))
    new = numeric(new_metrics.get(split, {}))
    diff = {k: new[k] - old[k] for k in old if k in new}
    metric = origin.metrics.get("training", {}).get("metric") or (
        cfg.train.metric or default_metric(cfg.task, cfg.model.multi_label)
    )
    new_split = new_meta["data"]["split"]
    new_prov = new_meta["data"]["provenance"]
    return Reproduction(
        origin=ref,
        original_run=origin.run_id,
        reproduced_run=(read_tracking_file(out) or {}).get("run_id"),
        folder=str(out),
        metric=metric,
        split=split,
        original=old,
        reproduced=new,
        diff=diff,
        split_match=_same(origin.split.get("index_sha256"), new_split.get("index_sha256")),
        data_match=_same(
            sorted((origin.provenance.get("files") or {}).values()),
            sorted((new_prov.get("files") or {}).values()),
        ),
        tolerance=tolerance,
        within_tolerance=metric in diff and abs(diff[metric]) <= tolerance,
    )
