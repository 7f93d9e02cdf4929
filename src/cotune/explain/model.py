"""The model an explanation differentiates through, found behind any artifact kind.

Every PyTorch artifact `load_artifact` returns (full, freeze, merged, distilled, DP-trained, and
the peft wrappers LoRA / AdaLoRA / IA3 / prefix, and cotune's bottleneck adapters) keeps the
backbone's word-embedding table reachable through `get_input_embeddings()`, so one seam serves
them all. ONNX graphs run in onnxruntime, which has no gradients: they are refused with that
reason. A backbone folder (no task head) is refused before any model is built.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cotune.errors import ArtifactError

ONNX_REASON = (
    "attributions need gradients through the word-embedding layer, and an ONNX graph runs in "
    "onnxruntime, which computes no gradients"
)


def load_explainable(folder: str | Path) -> Any:
    """`load_artifact(folder)`, with the folders that cannot be explained named first."""
    from cotune.artifact import load_artifact

    folder = Path(folder)
    if folder.is_file() and folder.suffix == ".onnx":
        raise ArtifactError(
            f"{folder} is an ONNX graph: {ONNX_REASON}",
            where=str(folder),
            fix="explain the artifact folder it was exported from (the one holding cotune.json)",
        )
    if not folder.is_dir():
        raise ArtifactError(
            f"{folder} is not a folder", where=str(folder), fix="give an artifact folder"
        )
    if not (folder / "cotune.json").is_file():
        raise ArtifactError(_not_an_artifact(folder), where=str(folder), fix=_fix_of(folder))
    return load_artifact(folder)


def _not_an_artifact(folder: Path) -> str:
    if folder.name == "onnx" or (any(folder.glob("*.onnx")) and not any(folder.glob("*.json"))):
        return f"{folder} holds ONNX graphs: {ONNX_REASON}"
    arch = _architectures(folder)
    if arch is not None:
        return (
            f"{folder} is a model without a task head ({', '.join(arch) or 'no architecture'}): "
            "there is no label or entity logit to explain"
        )
    return f"{folder} is not a cotune artifact (no cotune.json)"


def _fix_of(folder: Path) -> str:
    if folder.name == "onnx":
        return f"explain {folder.parent}, the artifact the graph was exported from"
    return "fine-tune it first (`cotune train`), then explain the artifact folder it writes"


def _architectures(folder: Path) -> list[str] | None:
    try:
        raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [str(a) for a in raw.get("architectures") or []]


def check_explainable(predictor: Any) -> None:
    """Refuse a predictor whose model is not a PyTorch module with a task head."""
    model = predictor.model
    if not isinstance(model, nn.Module):
        raise ArtifactError(
            f"{predictor.folder}: the model is an ONNX graph ({type(model).__name__}): "
            f"{ONNX_REASON}",
            where=str(predictor.folder),
            fix="load the artifact with load_artifact(folder) (PyTorch), not the ONNX runtime",
        )
    if predictor.meta.task not in ("token-classification", "sequence-classification"):
        raise ArtifactError(
            f"{predictor.folder}: task {predictor.meta.task!r} has no label logits to explain",
            where=str(predictor.folder),
            fix="explain a token- or sequence-classification artifact",
        )


def word_embeddings(model: nn.Module) -> nn.Module:
    """The token-embedding table (peft wrappers and adapters delegate to the backbone's)."""
    get = getattr(model, "get_input_embeddings", None)
    layer = get() if callable(get) else None
    if not isinstance(layer, nn.Embedding):
        raise ArtifactError(
            f"cannot find the word-embedding layer of {type(model).__name__}",
            fix="explanations support BERT-family encoders loaded by load_artifact",
        )
    return layer


def private_copy(model: nn.Module) -> nn.Module:
    """A copy of the module tree that shares every weight tensor.

    Captum registers hooks on the embedding layer while it attributes; on a served model those
    hooks would rewrite the embeddings of predictions running at the same time in the
    micro-batcher's thread. The copy has its own modules (and hooks) and no second set of weights.
    """
    memo: dict[int, Any] = {id(p): p for p in model.parameters()}
    memo.update({id(b): b for b in model.buffers()})
    out: nn.Module = copy.deepcopy(model, memo)
    return out.eval()


def _hf_model(model: nn.Module) -> Any:
    base = getattr(model, "get_base_model", None)
    return base() if callable(base) else model


@contextmanager
def eager_attention(model: nn.Module) -> Iterator[None]:
    """Attention weights come back only from the eager kernel (SDPA returns none)."""
    hf = _hf_model(model)
    previous = getattr(hf.config, "_attn_implementation", None)
    switch = callable(getattr(hf, "set_attn_implementation", None)) and previous != "eager"
    if switch:
        hf.set_attn_implementation("eager")
    try:
        yield
    finally:
        if switch and previous is not None:
            hf.set_attn_implementation(previous)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
