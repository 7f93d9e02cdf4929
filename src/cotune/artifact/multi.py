"""Several artifacts over one base model in one process, sharing the base weights.

Each artifact loads as its own `Predictor` (own task, head and adapter); then every tensor that
is identical to one already loaded under the same base-model name is replaced by that one. N
adapters over minilm-l6 so cost one copy of its 22.7 M base weights plus N small adapters.

Why tie tensors rather than load N adapters into one peft model: the tasks have different heads
and model classes (token vs sequence classifier), the methods differ (peft's LoRA beside cotune's
bottleneck adapter), and predictors that share nothing mutable need no "active adapter" switch,
so they can serve requests concurrently. The shared tensors are for inference: training one
predictor afterwards would change the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cotune.artifact.load import Predictor, load_artifact
from cotune.errors import ArtifactError

# wrapper segments that peft and cotune's adapter put into a base weight's name
_WRAPPER_PREFIX = re.compile(r"^base_model\.(?:model\.)?")


def base_name(name: str) -> str:
    """A parameter's name in the plain base model: `base_model.model.bert.x.base_layer.weight`
    -> `bert.x.weight`."""
    return _WRAPPER_PREFIX.sub("", name).replace(".base_layer.", ".")


@dataclass
class AdapterSet:
    """Predictors by name; `shared_parameters` counts the elements served from a shared tensor."""

    predictors: dict[str, Predictor]
    shared_parameters: int

    def __getitem__(self, name: str) -> Predictor:
        if name not in self.predictors:
            raise KeyError(f"no model {name!r}: loaded are {sorted(self.predictors)}")
        return self.predictors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.predictors)

    def __len__(self) -> int:
        return len(self.predictors)

    def predict_text(self, name: str, texts: Sequence[str], batch_size: int = 64) -> list[Any]:
        return self[name].predict_text(texts, batch_size)

    def parameter_bytes(self) -> int:
        """Bytes of all distinct parameter tensors across the set (shared ones counted once)."""
        seen: dict[int, int] = {}
        for p in self.predictors.values():
            for t in p.model.parameters():
                seen[id(t)] = t.numel() * t.element_size()
        return sum(seen.values())


def load_adapters(folders: Mapping[str, str | Path] | Sequence[str | Path]) -> AdapterSet:
    """Load artifacts trained over the same backbone; name -> folder (default: folder names)."""
    named = (
        {str(k): Path(v) for k, v in folders.items()}
        if isinstance(folders, Mapping)
        else {Path(f).name: Path(f) for f in folders}
    )
    pool: dict[str, nn.Parameter] = {}
    predictors: dict[str, Predictor] = {}
    base: tuple[Any, Any] | None = None
    shared = 0
    for name, folder in named.items():
        predictor = load_artifact(folder)
        identity = (predictor.meta.backbone.get("name"), predictor.meta.backbone.get("fingerprint"))
        if base is None:
            base = identity
        elif identity != base:
            raise ArtifactError(
                f"{folder} was trained over {identity[0]!r} (hash {identity[1]}), the others "
                f"over {base[0]!r} (hash {base[1]}): they share no base weights",
                fix="load artifacts of one backbone together, or load them separately",
            )
        shared += share_parameters(predictor.model, pool)
        predictors[name] = predictor
    return AdapterSet(predictors, shared)


@torch.no_grad()
def share_parameters(model: nn.Module, pool: dict[str, nn.Parameter]) -> int:
    """Point each parameter of `model` equal to a pooled one of the same base name at the pooled
    tensor; pool the rest. Only equal values are shared, so adapters and heads (different per
    artifact) never are. Returns the number of elements now shared."""
    count = 0
    for module_name, module in model.named_modules():
        for param_name, param in list(module.named_parameters(recurse=False)):
            key = base_name(f"{module_name}.{param_name}" if module_name else param_name)
            pooled = pool.get(key)
            if pooled is None:
                pool[key] = param
            elif pooled is not param and _same(pooled, param):
                setattr(module, param_name, pooled)
                count += param.numel()
    return count


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
