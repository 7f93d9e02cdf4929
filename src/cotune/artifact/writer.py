"""Write the artifact folder: staged in a hidden folder, then moved into place file by file."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from cotune import __version__
from cotune.artifact.card import model_card
from cotune.artifact.meta import ArtifactMeta
from cotune.artifact.plots import confusion_matrix, training_curve
from cotune.config.schema import RunConfig
from cotune.files import publish_files
from cotune.methods.catalog import Method
from cotune.models.catalog import fingerprint


def write_artifact(
    out: Path,
    *,
    cfg: RunConfig,
    model: Any,
    tokenizer: Any,
    task: Any,
    method: Method,
    backbone: Path | str,
    provenance: dict[str, Any],
    split: dict[str, Any],
    metrics: dict[str, Any],
    history: list[dict[str, Any]],
    unk: float | None = None,
) -> None:
    stage = new_stage(out)
    if method.save is not None:
        method.save(model, stage)
    else:
        model.save_pretrained(stage, safe_serialization=True)
    weights_bytes = _folder_bytes(stage)  # what the method saved: full model, or adapter + head
    tokenizer.save_pretrained(stage)
    metrics = {
        **metrics,
        "training": {
            **metrics["training"],
            "weights_bytes": weights_bytes,
            "artifact_bytes": _folder_bytes(stage),  # weights + tokenizer: what a load reads
        },
    }
    meta = ArtifactMeta(
        task=cfg.task,
        labels=list(task.labels),
        backbone={
            "name": cfg.model.backbone,
            "path": str(backbone),
            "fingerprint": fingerprint(backbone) if Path(str(backbone)).exists() else None,
        },
        method={"name": method.name, **cfg.method.options()},
        config=cfg.model_dump(mode="json"),
        data={"provenance": provenance, "split": split},
        model_config=cfg.model.model_dump(mode="json"),
        cotune_version=__version__,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        extra={"unk_rate": unk},
    )
    meta.write(stage)
    (stage / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    (stage / "history.jsonl").write_text(
        "".join(json.dumps(h) + "\n" for h in history), encoding="utf-8"
    )
    training_curve(history, metrics["training"]["metric"], stage / "training_curve.png")
    if "confusion" in metrics.get("test", {}):
        confusion_matrix(metrics["test"]["confusion"], task.labels, stage / "confusion_test.png")
    (stage / "README.md").write_text(model_card(meta, metrics), encoding="utf-8")
    publish_files(stage, out)


def new_stage(out: Path) -> Path:
    """An empty hidden folder inside `out` where a result is written before it is published."""
    stage = out / ".partial"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    return stage


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
