"""cotune.json: what an artifact is, written beside the Hugging Face files."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cotune.errors import ArtifactError

META_FILE = "cotune.json"
FORMAT_VERSION = 1


@dataclass
class ArtifactMeta:
    task: str
    labels: list[str]
    backbone: dict[str, Any]  # name, path, fingerprint
    method: dict[str, Any]  # name + options
    config: dict[str, Any]  # the resolved run config
    data: dict[str, Any]  # provenance + split record
    model_config: dict[str, Any] = field(default_factory=dict)  # max_length, multi_label, ...
    format_version: int = FORMAT_VERSION
    cotune_version: str = ""
    created: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def method_options(self) -> dict[str, Any]:
        """The method's options as trained: `method` without its name and the merged flag."""
        return {k: v for k, v in self.method.items() if k not in ("name", "merged")}

    def write(self, folder: Path) -> None:
        from cotune.files import atomic_write_text

        atomic_write_text(folder / META_FILE, json.dumps(asdict(self), indent=2, default=str))

    @classmethod
    def read(cls, folder: Path) -> ArtifactMeta:
        path = folder / META_FILE
        if not path.exists():
            raise ArtifactError(
                f"{folder} is not a cotune artifact (no {META_FILE})",
                fix="point at a folder written by `cotune train`",
            )
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format_version", 0) > FORMAT_VERSION:
            raise ArtifactError(
                f"artifact format {raw['format_version']} is newer than this cotune understands",
                where=str(path),
                fix="upgrade cotune",
            )
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})
