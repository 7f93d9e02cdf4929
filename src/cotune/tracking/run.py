"""One tracked run around a recipe: what `finetune` calls at its start, end and failure.

What is logged, and how:
- at start: the resolved config as params (`train.lr`, ...) and as `config.yaml`; system info as
  `sys.*` tags and `system.json`; task, backbone, method and contributors as tags;
- during training: every history entry as it happens (TrackingCallback);
- at the end: final dev/test metrics, data provenance and split as tags, and the artifact.

The artifact folder is logged **by path** (tag `cotune.artifact_path`) and its small files
(config, metrics, card, history, curves) are **copied** into the run: weights are tens of MB per
run and a search makes dozens, while the small files are what reproducing the run and reading
its card need once the folder has moved. `tracking.copy_artifact: true` copies everything, for a
team server that cannot see this machine's disk.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cotune.config.schema import RunConfig
from cotune.config.tracking import TrackingConfig
from cotune.files import atomic_write_text
from cotune.tracking.base import (
    SMALL_ARTIFACT_FILES,
    NullTracker,
    RunStore,
    Tracker,
    flatten,
    numeric,
    status_of,
)
from cotune.tracking.callback import TrackingCallback
from cotune.tracking.locate import mlflow_installed, resolve_backend
from cotune.tracking.system import system_info

log = logging.getLogger(__name__)
TRACKING_FILE = "tracking.json"  # in the artifact folder: which run made it


def open_tracker(cfg: TrackingConfig) -> Tracker:
    backend = resolve_backend(cfg.backend)
    if backend == "mlflow":
        from cotune.tracking.mlflow_backend import MlflowTracker

        return MlflowTracker(cfg.uri, cfg.experiment)
    if backend == "jsonl":
        from cotune.tracking.jsonl_backend import JsonlTracker

        return JsonlTracker(cfg.uri, cfg.experiment)
    return NullTracker()


def open_store(backend: str = "auto", uri: str | None = None) -> RunStore:
    resolved = resolve_backend(backend)
    if resolved == "none" and backend == "auto":  # runs are off for new runs, not for reading
        resolved = "mlflow" if mlflow_installed() else "jsonl"
    if resolved == "jsonl":
        from cotune.tracking.jsonl_backend import JsonlStore

        return JsonlStore(uri)
    if resolved == "none":
        from cotune.errors import ConfigError

        raise ConfigError(
            "tracking is off (backend none): there are no runs to read",
            where="--backend / $COTUNE_TRACKING",
            fix="pass --backend mlflow or --backend jsonl",
        )
    from cotune.tracking.mlflow_backend import MlflowStore

    return MlflowStore(uri)


def _log_text(tracker: Tracker, text: str, name: str, folder: str = "") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        tracker.log_file(path, folder)


def provenance_tags(meta: Mapping[str, Any]) -> dict[str, str]:
    """Data provenance and split of an artifact's cotune.json, as searchable tags."""
    prov = meta.get("data", {}).get("provenance", {})
    split = meta.get("data", {}).get("split", {})
    files = prov.get("files") or {}
    tags = {
        "data.name": prov.get("name"),
        "data.package": prov.get("package"),
        "data.package_version": prov.get("package_version"),
        "data.licence": prov.get("licence"),
        "data.sha256": ",".join(str(v)[:16] for v in files.values()),
        "split.method": split.get("method"),
        "split.seed": split.get("seed"),
        "split.sizes": json.dumps(split.get("sizes")) if split.get("sizes") else None,
        "split.index_sha256": json.dumps(split.get("index_sha256"))
        if split.get("index_sha256")
        else None,
        "backbone.fingerprint": meta.get("backbone", {}).get("fingerprint"),
    }
    return {k: str(v) for k, v in tags.items() if v not in (None, "")}


class TrackedRun:
    """Start with `start_tracked_run`; pass `.callback` to the loop; `finish(out)` or
    `fail(exc)` exactly once."""

    def __init__(self, tracker: Tracker, cfg: RunConfig) -> None:
        self.tracker = tracker
        self.cfg = cfg
        self.callback = TrackingCallback(tracker)

    def start(self, tags: Mapping[str, str] | None = None) -> None:
        cfg = self.cfg
        if isinstance(self.tracker, NullTracker):
            return
        dump = cfg.model_dump(mode="json")
        system = system_info()
        self.tracker.start(
            cfg.run_name(),
            tags={
                "cotune.kind": "train",
                "cotune.task": cfg.task,
                "cotune.backbone": cfg.model.backbone,
                "cotune.method": cfg.method.name,
                "cotune.contributors": ", ".join(cfg.tracking.contributors),
                "mlflow.user": cfg.tracking.contributors[0] if cfg.tracking.contributors else "",
                "mlflow.source.name": "cotune",
                **{f"sys.{k}": str(v) for k, v in system.items()},
                **cfg.tracking.tags,
                **(tags or {}),
            },
        )
        params = flatten({k: v for k, v in dump.items() if k not in ("tracking", "tune")})
        self.tracker.log_params(params)
        _log_text(self.tracker, yaml.safe_dump(dump, sort_keys=False), "config.yaml")
        _log_text(self.tracker, json.dumps(system, indent=2), "system.json")

    def finish(self, out: Path) -> None:
        """Log final metrics, provenance and the artifact; write `tracking.json` into it."""
        if isinstance(self.tracker, NullTracker):
            return
        try:
            self.log_artifact(out)
            self.tracker.end("FINISHED")
        except Exception as e:  # the artifact is written; a tracking hiccup must not lose it
            log.warning("tracking could not finish the run (%s: %s)", type(e).__name__, e)

    def log_artifact(self, out: Path) -> None:
        metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        meta = json.loads((out / "cotune.json").read_text(encoding="utf-8"))
        history = [
            json.loads(line)
            for line in (out / "history.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        self.callback.flush(history)  # entries the loop made after the last step callback
        final = {
            **numeric(metrics.get("dev", {}), "final_dev_"),
            **numeric(metrics.get("test", {}), "test_"),
            **numeric(metrics.get("training", {}), "training_"),
        }
        self.tracker.log_metrics(final, step=int(metrics.get("training", {}).get("steps", 0)))
        copied = self.cfg.tracking.copy_artifact
        self.tracker.set_tags(
            {
                **provenance_tags(meta),
                "cotune.metric": str(metrics.get("training", {}).get("metric", "")),
                "cotune.artifact_path": str(out.resolve()),
                "cotune.artifact_logged": "copy" if copied else "path+small-files",
            }
        )
        location = {**self.tracker.location(), "artifact_logged": "copy" if copied else "path"}
        atomic_write_text(out / TRACKING_FILE, json.dumps(location, indent=2))
        if copied:
            self.tracker.log_folder(out, "artifact")
        else:
            for name in (*SMALL_ARTIFACT_FILES, TRACKING_FILE):
                if (out / name).is_file():
                    self.tracker.log_file(out / name, "artifact")

    def fail(self, exc: BaseException) -> None:
        record_failure(self.tracker, exc)


def record_failure(tracker: Tracker, exc: BaseException) -> None:
    """End a started run as failed or killed, with the error as a tag; a tracking failure here
    is only logged (the training error is the one the user must see)."""
    if isinstance(tracker, NullTracker) or tracker.run_id is None:
        return
    try:
        tracker.set_tags({"cotune.error": f"{type(exc).__name__}: {exc}"[:5000]})
        tracker.end(status_of(exc))
    except Exception as e:
        log.warning("tracking could not record the failure (%s: %s)", type(e).__name__, e)


def start_tracked_run(
    cfg: RunConfig, tracker: Tracker | None = None, *, tags: Mapping[str, str] | None = None
) -> TrackedRun:
    """A started run for `cfg` on `tracker` (default: the one `cfg.tracking` names)."""
    run = TrackedRun(tracker if tracker is not None else open_tracker(cfg.tracking), cfg)
    run.start(tags)
    return run


def read_tracking_file(folder: Path) -> dict[str, Any] | None:
    path = folder / TRACKING_FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
