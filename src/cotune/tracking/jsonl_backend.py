"""JSONL backend for minimal installs: one append-only event file per run, no dependencies.

Layout: ROOT/RUN_ID.jsonl (events: start, params, metrics, tags, end) and ROOT/RUN_ID/ (copied
artifacts). Appending one line per event means a killed run still reads back up to its last
event; a torn last line is skipped.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cotune.errors import ArtifactError
from cotune.tracking.base import RunRecord, RunStatus
from cotune.tracking.locate import jsonl_root


class JsonlTracker:
    backend = "jsonl"

    def __init__(self, uri: str | None = None, experiment: str = "cotune") -> None:
        self.root = jsonl_root(uri)
        self.experiment = experiment
        self._run_id: str | None = None

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def _append(self, event: str, **body: Any) -> None:
        if self._run_id is None:
            raise RuntimeError("no run started: call start() or attach() first")
        line = json.dumps({"t": time.time(), "event": event, **body}, default=str)
        with (self.root / f"{self._run_id}.jsonl").open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def start(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        self._run_id = uuid.uuid4().hex
        self._append("start", name=name, experiment=self.experiment, tags=dict(tags or {}))
        return self._run_id

    def attach(self, run_id: str) -> None:
        if not (self.root / f"{run_id}.jsonl").exists():
            raise ArtifactError(f"no run {run_id!r} in {self.root}")
        self._run_id = run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._append("params", values={k: str(v) for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._append("metrics", step=step or 0, values={k: float(v) for k, v in metrics.items()})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._append("tags", values={k: str(v) for k, v in tags.items()})

    def _artifacts(self, folder: str) -> Path:
        assert self._run_id is not None
        path = self.root / self._run_id / folder
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log_file(self, path: Path, folder: str = "") -> None:
        shutil.copy2(path, self._artifacts(folder) / path.name)

    def log_folder(self, path: Path, folder: str = "") -> None:
        shutil.copytree(path, self._artifacts(folder), dirs_exist_ok=True)

    def end(self, status: RunStatus = "FINISHED") -> None:
        if self._run_id is not None:
            self._append("end", status=status)

    def location(self) -> dict[str, Any]:
        return {
            "backend": "jsonl",
            "uri": str(self.root),
            "experiment": self.experiment,
            "run_id": self._run_id,
        }


def _read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line torn by a kill mid-write
    return events


class JsonlStore:
    def __init__(self, uri: str | None = None) -> None:
        self.root = jsonl_root(uri)
        self.uri = str(self.root)

    def _record(self, path: Path) -> RunRecord:
        rec = RunRecord(path.stem, "", "", "RUNNING", None, None)
        rec.artifact_uri = str(self.root / path.stem)
        for ev in _read_events(path):
            kind = ev.get("event")
            if kind == "start":
                rec.name, rec.experiment = ev.get("name", ""), ev.get("experiment", "")
                rec.start_time = ev.get("t")
                rec.tags.update(ev.get("tags", {}))
            elif kind == "params":
                rec.params.update(ev["values"])
            elif kind == "metrics":
                rec.metrics.update(ev["values"])
            elif kind == "tags":
                rec.tags.update(ev["values"])
            elif kind == "end":
                rec.status, rec.end_time = ev.get("status", "FINISHED"), ev.get("t")
        return rec

    def list_runs(self, experiment: str | None = None, limit: int = 50) -> list[RunRecord]:
        if not self.root.is_dir():
            return []
        runs = [self._record(p) for p in self.root.glob("*.jsonl")]
        runs = [r for r in runs if experiment is None or r.experiment == experiment]
        runs.sort(key=lambda r: r.start_time or 0, reverse=True)
        return runs[:limit]

    def get_run(self, run_id: str) -> RunRecord:
        hits = sorted(self.root.glob(f"{run_id}*.jsonl")) if self.root.is_dir() else []
        if len(hits) == 1:
            return self._record(hits[0])
        what = "no run" if not hits else f"{len(hits)} runs"
        raise ArtifactError(
            f"{what} with id {run_id!r} in {self.root}",
            fix="see `cotune runs list --backend jsonl` for ids (a unique prefix is enough)",
        )

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        path = self.root / f"{self.get_run(run_id).run_id}.jsonl"
        return [
            (int(ev.get("step", 0)), float(ev["values"][key]))
            for ev in _read_events(path)
            if ev.get("event") == "metrics" and key in ev["values"]
        ]

    def fetch_file(self, run_id: str, name: str, dest: Path) -> Path | None:
        src = self.root / self.get_run(run_id).run_id / name
        if not src.is_file():
            return None
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(src, dest / src.name))
