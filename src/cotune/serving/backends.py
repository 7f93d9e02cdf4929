"""What the server calls to predict: a `Backend` per served model.

Both engines go through a cotune `Predictor`, so the JSON a client gets is the JSON that
`cotune predict` writes (`cotune.uses.predict.as_dict`), whatever runs the numbers:

* torch: `load_artifact(folder)`, the safetensors weights the artifact holds;
* onnx / onnx-int8: the artifact's exported graph in onnxruntime (`cotune.export.runtime`).

No pickle is ever read: transformers loads `model.safetensors` and onnxruntime reads protobuf.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from cotune.artifact import Predictor
from cotune.errors import ArtifactError, ConfigError
from cotune.serving.schemas import BaseInfo, ModelInfo
from cotune.serving.settings import BackendKind

log = logging.getLogger("cotune.serving")

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Backend(Protocol):
    info: ModelInfo

    def predict_texts(self, texts: Sequence[str]) -> list[dict[str, Any]]: ...


class PredictorBackend:
    """A loaded artifact answering raw texts with JSON-able dicts (all label scores, no text)."""

    def __init__(self, name: str, predictor: Predictor, kind: str, batch_size: int = 64) -> None:
        self.predictor, self.batch_size = predictor, batch_size
        self.info = model_info(name, predictor, kind)

    def predict_texts(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        from cotune.uses.predict import as_dict

        preds = self.predictor.predict_text(list(texts), self.batch_size)
        out = []
        for text, pred in zip(texts, preds, strict=True):
            row = as_dict(text, pred)
            row.pop("text")  # the client sent it; echoing 10k characters back is waste
            out.append(row)
        return out


def model_info(name: str, predictor: Predictor, kind: str) -> ModelInfo:
    meta = predictor.meta
    base_name = meta.backbone.get("name")
    if base_name and Path(str(base_name)).is_absolute():
        base_name = Path(str(base_name)).name  # a catalog name is public; a server path is not
    return ModelInfo(
        name=name,
        task=meta.task,
        labels=list(meta.labels),
        multi_label=bool(meta.model_config.get("multi_label", False)),
        backend=kind,
        method=meta.method.get("name"),
        base=BaseInfo(name=base_name, fingerprint=meta.backbone.get("fingerprint")),
        metrics=_test_metrics(predictor.folder),
    )


def _test_metrics(folder: Path) -> dict[str, float]:
    """The scalar test scores of metrics.json (per-type tables stay in the artifact)."""
    try:
        test = json.loads((folder / "metrics.json").read_text(encoding="utf-8")).get("test", {})
    except (OSError, ValueError):
        return {}
    return {
        k: float(v)
        for k, v in test.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def require_safe_weights(folder: Path) -> None:
    """A server loads weights only from safetensors: a pickle can run code when it is read.

    transformers prefers `*.safetensors` when both are present, so a folder that has them is
    safe; one with only pickled weights is refused instead of falling back to unpickling.
    """
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    raise ArtifactError(
        f"{folder} has no safetensors weights"
        + (f" (only pickled ones: {', '.join(pickles)})" if pickles else ""),
        where=str(folder),
        fix="re-save the model with save_pretrained(..., safe_serialization=True); the server "
        "never unpickles weights",
    )


def load_predictor(folder: Path, kind: BackendKind, threads: int = 1) -> Predictor:
    if kind == "torch":
        from cotune.artifact import load_artifact

        require_safe_weights(folder)
        return load_artifact(folder)
    from cotune.export.runtime import load_onnx_predictor

    return load_onnx_predictor(folder, int8=kind == "onnx-int8", threads=threads)


def parse_spec(spec: str) -> tuple[str, Path]:
    """`NAME=FOLDER` or `FOLDER` (named after the folder)."""
    name, sep, path = spec.partition("=")
    folder = Path(path if sep else spec)
    name = name if sep else folder.resolve().name
    if not NAME_PATTERN.match(name):
        raise ConfigError(
            f"model name {name!r} is not usable in a URL",
            where=spec,
            fix="name it explicitly: NAME=FOLDER with NAME of letters, digits, '.', '_', '-'",
        )
    if not folder.is_dir():
        raise ArtifactError(f"{folder} is not a folder", where=spec, fix="give an artifact folder")
    return name, folder


def load_models(
    specs: Sequence[str], kind: BackendKind = "torch", threads: int = 1, device: str = "cpu"
) -> dict[str, Backend]:
    """Load every artifact once, keyed by its served name.

    PyTorch models over one base (same backbone name and weights hash) share every tensor that
    is equal across them (`cotune.artifact.multi.share_parameters`): N adapters over minilm-l6 hold
    one copy of its weights. Serving never trains, so tied tensors are safe, and each model
    keeps its own head, adapter and inference thread.
    """
    from cotune.artifact.multi import share_parameters

    models: dict[str, Backend] = {}
    loaded: dict[Path, Predictor] = {}
    pools: dict[tuple[Any, Any], dict[str, Any]] = {}
    for spec in specs:
        name, folder = parse_spec(spec)
        if name in models:
            raise ConfigError(
                f"two models are named {name!r}", where=spec, fix="name them: NAME=FOLDER"
            )
        key = folder.resolve()
        if key not in loaded:
            predictor = load_predictor(folder, kind, threads).to(device, where="--device")
            if kind == "torch":
                base = (
                    predictor.meta.backbone.get("name"),
                    predictor.meta.backbone.get("fingerprint"),
                )
                shared = share_parameters(predictor.model, pools.setdefault(base, {}))
                if shared:
                    log.info("%s shares %d base weights with models loaded before", name, shared)
            loaded[key] = predictor
        models[name] = PredictorBackend(name, loaded[key], kind)
    return models
