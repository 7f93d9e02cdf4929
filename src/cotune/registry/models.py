"""Named models with versions, aliases and stages, on MLflow's model registry.

The registry lives in the same store as tracking (`./mlruns.db` by default), so a version
points at both its artifact folder (the version's `source`) and the run that made it.
References: `NAME` (latest version), `NAME:3`, `NAME@champion`, `models:/NAME/3`,
`models:/NAME@champion`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cotune.artifact.meta import META_FILE, ArtifactMeta
from cotune.errors import ArtifactError, ConfigError
from cotune.tracking.locate import mlflow_installed
from cotune.tracking.run import read_tracking_file

STAGES = ("None", "Staging", "Production", "Archived")


@dataclass
class VersionInfo:
    name: str
    version: int
    source: str  # the artifact folder (absolute path) or, for a copied artifact, its URI
    run_id: str | None
    aliases: list[str] = field(default_factory=list)
    stage: str = "None"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    created: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_ref(ref: str) -> tuple[str, str | None, str | None]:
    """'name', 'name:3', 'name@alias', 'models:/name/3' -> (name, version, alias)."""
    body = ref.removeprefix("models:/")
    if "@" in body:
        name, _, alias = body.partition("@")
        return name, None, alias
    sep = "/" if ref.startswith("models:/") else ":"
    name, _, version = body.rpartition(sep) if sep in body else (body, "", "")
    if version and not version.isdigit():
        raise ConfigError(
            f"bad model reference {ref!r}: version {version!r} is not a number",
            fix="use NAME, NAME:VERSION, NAME@ALIAS or models:/NAME/VERSION",
        )
    return name, version or None, None


def summary_tags(folder: Path) -> dict[str, str]:
    """What a version's list entry should show without opening the folder."""
    meta = ArtifactMeta.read(folder)
    tags = {
        "cotune.task": meta.task,
        "cotune.backbone": str(meta.backbone.get("name")),
        "cotune.method": str(meta.method.get("name")),
        "data.name": str(meta.data.get("provenance", {}).get("name")),
    }
    metrics_file = folder / "metrics.json"
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        key = metrics.get("training", {}).get("metric")
        for split in ("dev", "test"):
            value = metrics.get(split, {}).get(key)
            if isinstance(value, int | float):
                tags[f"{split}_{key}"] = f"{value:.4f}"
    return tags


class ModelRegistry:
    def __init__(self, uri: str | None = None) -> None:
        if not mlflow_installed():
            raise ConfigError(
                "the model registry needs mlflow",
                fix="pip install mlflow-skinny (the registry lives in the MLflow store)",
            )
        from cotune.tracking.mlflow_backend import client

        self._client = client(uri)
        self.uri = str(self._client.tracking_uri)

    # ------------------------------------------------------------------ reading
    def _info(self, mv: Any) -> VersionInfo:
        created = dt.datetime.fromtimestamp(mv.creation_timestamp / 1000)
        return VersionInfo(
            name=mv.name,
            version=int(mv.version),
            source=mv.source,
            run_id=mv.run_id or None,
            aliases=sorted(mv.aliases or []),
            stage=mv.current_stage or "None",
            description=mv.description or "",
            tags=dict(mv.tags or {}),
            created=created.isoformat(sep=" ", timespec="seconds"),
        )

    def _missing(self, what: str) -> ArtifactError:
        return ArtifactError(
            f"{what} is not in the registry at {self.uri}",
            fix="see `cotune registry list` (or pass --uri for another store)",
        )

    def versions(self, name: str) -> list[VersionInfo]:
        found = self._client.search_model_versions(f"name='{name}'")
        if not found:
            raise self._missing(f"model {name!r}")
        return sorted((self._info(v) for v in found), key=lambda v: v.version)

    def get(self, ref: str) -> VersionInfo:
        from mlflow.exceptions import MlflowException

        name, version, alias = parse_ref(ref)
        try:
            if alias:
                return self._info(self._client.get_model_version_by_alias(name, alias))
            if version:
                return self._info(self._client.get_model_version(name, version))
        except MlflowException:
            raise self._missing(ref) from None
        return self.versions(name)[-1]

    def list(self) -> list[dict[str, Any]]:
        out = []
        for rm in self._client.search_registered_models():
            latest = max((int(v.version) for v in rm.latest_versions or []), default=0)
            updated = dt.datetime.fromtimestamp(rm.last_updated_timestamp / 1000)
            out.append(
                {
                    "name": rm.name,
                    "latest_version": latest,
                    "aliases": dict(rm.aliases or {}),
                    "description": rm.description or "",
                    "updated": updated.isoformat(sep=" ", timespec="seconds"),
                }
            )
        return sorted(out, key=lambda m: m["name"])

    # ------------------------------------------------------------------ writing
    def add(
        self,
        name: str,
        folder: Path,
        *,
        run_id: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
        alias: str | None = None,
    ) -> VersionInfo:
        """Register `folder` (a cotune artifact) as the next version of `name`.

        The run defaults to the one recorded in the folder's tracking.json, when that run is
        in this store; a run in another store is kept as a tag.
        """
        from mlflow.exceptions import MlflowException

        folder = Path(folder).resolve()
        if not (folder / META_FILE).is_file():
            raise ArtifactError(
                f"{folder} is not a cotune artifact (no {META_FILE})",
                fix="register a folder written by `cotune train` or `cotune tune`",
            )
        all_tags = {**summary_tags(folder), **(tags or {})}
        recorded = read_tracking_file(folder) or {}
        if run_id is None and recorded.get("run_id"):
            if recorded.get("backend") == "mlflow" and recorded.get("uri") == self.uri:
                run_id = recorded["run_id"]
            else:
                all_tags["cotune.run"] = f"{recorded.get('backend')}:{recorded.get('run_id')}"
                all_tags["cotune.run_store"] = str(recorded.get("uri"))
        with contextlib.suppress(MlflowException):  # the name exists already
            self._client.create_registered_model(name)
        mv = self._client.create_model_version(
            name, source=str(folder), run_id=run_id, tags=all_tags, description=description
        )
        if alias:
            self._client.set_registered_model_alias(name, alias, str(mv.version))
        return self.get(f"{name}:{mv.version}")

    def promote(
        self,
        ref: str,
        *,
        alias: str | None = None,
        stage: str | None = None,
        archive_existing: bool = False,
    ) -> VersionInfo:
        """Point `alias` at the version, and/or move it to `stage` (MLflow's older scheme)."""
        info = self.get(ref)
        if not alias and not stage:
            raise ConfigError("promote needs an alias or a stage", fix="pass --alias or --stage")
        if alias:
            self._client.set_registered_model_alias(info.name, alias, str(info.version))
        if stage:
            wanted = {s.lower(): s for s in STAGES}.get(stage.lower())
            if wanted is None:
                raise ConfigError(f"unknown stage {stage!r}", fix=f"use one of {STAGES}")
            with warnings.catch_warnings():  # stages are deprecated upstream, still supported
                warnings.simplefilter("ignore", FutureWarning)
                self._client.transition_model_version_stage(
                    info.name, str(info.version), wanted, archive_existing_versions=archive_existing
                )
        return self.get(info.ref)

    def export(self, ref: str, dest: Path) -> Path:
        """Copy the version's artifact folder to `dest` (from its folder, else from its run)."""
        info = self.get(ref)
        dest = Path(dest)
        if dest.exists() and any(dest.iterdir()):
            raise ArtifactError(f"{dest} exists and is not empty", fix="export to a new folder")
        source = Path(info.source)
        if source.is_dir() and (source / META_FILE).is_file():
            shutil.copytree(source, dest, dirs_exist_ok=True)
            return dest
        if info.run_id:
            from mlflow.exceptions import MlflowException

            with tempfile.TemporaryDirectory() as tmp:
                try:
                    got = self._client.download_artifacts(info.run_id, "artifact", tmp)
                except (MlflowException, OSError):
                    got = tmp
                if _has_weights(Path(got)):
                    shutil.copytree(got, dest, dirs_exist_ok=True)
                    return dest
        raise ArtifactError(
            f"{info.ref}: its folder {info.source} is gone and its run holds no weights",
            fix="restore the folder, or train with tracking.copy_artifact: true so the run "
            "keeps a full copy",
        )


def _has_weights(folder: Path) -> bool:
    if not (folder / META_FILE).is_file():
        return False
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))
