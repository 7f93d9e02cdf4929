"""The one list of adaptation methods. Adding a method = one module + one `register` call.

A method turns a freshly built task model (backbone + head) into the model to train, saves what
it trained into the artifact folder, loads it back over the base model, and folds it into plain
weights where that is exact (`merge`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from cotune.errors import ConfigError


class MethodOptions(BaseModel):
    """Base of each method's typed options (unknown keys rejected)."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class MethodContext:
    """What a method may need to know about the run it trains in (AdaLoRA: its rank schedule)."""

    total_steps: int


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    options: type[MethodOptions]
    # (model, options) -> the model to train; sets requires_grad / wraps with adapters
    apply: Callable[[Any, Any], nn.Module]
    # (trained model, folder) -> writes weights; default: save_pretrained (full HF model)
    save: Callable[[Any, Path], None] | None = None
    # (folder, build_base) -> model ready for inference. `build_base()` builds the task model
    # over the base backbone the artifact names (resolved and fingerprint-checked by the caller).
    # Default: the folder is a plain Hugging Face model (from_pretrained).
    load: Callable[[Path, Callable[[], Any]], Any] | None = None
    # whether `merge` folds this method with its default options (adapter: only when linear)
    mergeable: bool = True
    # (model, options) -> a plain Hugging Face model with the method folded in; raises
    # ArtifactError saying why where it cannot. None: the model already is plain.
    merge: Callable[[Any, Any], nn.Module] | None = None
    # (model, options, context) -> loop callbacks the method needs while training (AdaLoRA's
    # budget allocation); a recipe that trains with `fit` passes them on.
    callbacks: Callable[[Any, Any, MethodContext], list[Any]] | None = None

    def parse(self, raw: dict[str, Any]) -> MethodOptions:
        try:
            return self.options(**raw)
        except ValidationError as e:
            err = e.errors()[0]
            key = ".".join(str(x) for x in err["loc"])
            raise ConfigError(
                f"method {self.name!r}: {err['msg']} (method.{key})",
                where=f"method.{key}",
                fix=f"valid options of {self.name!r}: {sorted(self.options.model_fields)}",
            ) from None

    def training_callbacks(
        self, model: Any, options: MethodOptions, context: MethodContext
    ) -> list[Any]:
        return [] if self.callbacks is None else self.callbacks(model, options, context)

    def merged(self, model: Any, options: MethodOptions) -> nn.Module:
        """The model as plain Hugging Face weights (see `merge`)."""
        out: nn.Module = model if self.merge is None else self.merge(model, options)
        return out


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} registered twice")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(
            f"unknown method {name!r}",
            where="method.name",
            fix=f"use one of {sorted(METHODS)} (`cotune methods list`)",
        )
    return METHODS[name]


def count_parameters(model: nn.Module) -> dict[str, float]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "total": total,
        "trainable": trainable,
        "trainable_pct": 100.0 * trainable / max(1, total),
    }
