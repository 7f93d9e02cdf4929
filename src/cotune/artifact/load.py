"""Load an artifact folder back into a ready-to-use predictor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from cotune.artifact.meta import META_FILE, ArtifactMeta
from cotune.config.schema import ModelConfig
from cotune.data.examples import Example
from cotune.errors import ArtifactError, ConfigError
from cotune.methods import get_method
from cotune.models.catalog import fingerprint, resolve_backbone
from cotune.tasks import Task, build_task


@dataclass
class Predictor:
    """A loaded artifact: task + model + tokenizer, with predict/evaluate helpers."""

    folder: Path
    meta: ArtifactMeta
    task: Task
    model: Any
    tokenizer: Any

    def predict_text(self, texts: Sequence[str], batch_size: int = 64) -> list[Any]:
        return self.task.predict_text(self.model, list(texts), batch_size)

    def predict(self, examples: Sequence[Example], batch_size: int = 64) -> list[Any]:
        return self.task.predict(self.model, examples, batch_size)

    def evaluate(self, examples: Sequence[Example], batch_size: int = 64) -> dict[str, Any]:
        return self.task.evaluate(self.model, examples, batch_size)

    def to(self, device: str, *, where: str = "--device") -> Predictor:
        """Run on `device` (auto, cpu, cuda): a PyTorch model moves there (auto: a CUDA GPU when
        one is visible); an ONNX graph runs on onnxruntime's CPU provider, so `cuda` is refused
        for it and `auto` keeps it there."""
        import torch

        from cotune.training.distributed import pick_device

        if not isinstance(self.model, torch.nn.Module):
            if device == "cuda":
                raise ConfigError(
                    "an ONNX graph runs on the CPU here (onnxruntime's CPU provider)",
                    where=where,
                    fix="leave out --device cuda, or run the PyTorch model on the GPU "
                    "(without --onnx / with --backend torch)",
                )
            return self
        self.model.to(pick_device(device, where=where))
        return self


def load_artifact(folder: str | Path) -> Predictor:
    folder = Path(folder)
    meta = ArtifactMeta.read(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    mcfg = ModelConfig(**meta.model_config)
    task = build_task(meta.task, meta.labels, tokenizer, mcfg)
    method = get_method(meta.method.get("name", "full"))
    if method.load is not None and not meta.method.get("merged"):
        backbone = base_backbone(folder, meta)
        model = method.load(folder, lambda: _quietly(lambda: task.build_model(backbone, mcfg)))
    else:
        model = task.build_model(folder, mcfg)
    model.eval()
    return Predictor(folder, meta, task, model, tokenizer)


def base_backbone(folder: Path, meta: ArtifactMeta) -> Path | str:
    """The backbone an adapter artifact was trained over, found by its recorded catalog name (or
    folder) and checked against the recorded hash: an adapter over other weights is garbage."""
    name = str(meta.backbone.get("name"))
    where = str(folder / META_FILE)
    try:
        path = resolve_backbone(name)
    except ConfigError as e:
        raise ArtifactError(
            f"the adapter's base model {name!r} cannot be found: {e.what}", where=where, fix=e.fix
        ) from None
    expected = meta.backbone.get("fingerprint")
    if expected and Path(str(path)).exists() and (actual := fingerprint(path)) != expected:
        raise ArtifactError(
            f"the adapter was trained over {name!r} with weights hash {expected}, but {name!r} "
            f"now resolves to {path} with hash {actual}",
            where=where,
            fix="install the backbone version it was trained on, or retrain the adapter",
        )
    return path


def _quietly(build: Callable[[], Any]) -> Any:
    """Build the base without transformers' report that the head is missing: by design, the
    adapter brings it."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return build()
    finally:
        hf_logging.set_verbosity(previous)
