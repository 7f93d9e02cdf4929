"""Freezing strategies: train the head and the upper part of the encoder only.

Frozen parts get no gradient, so no backward runs through layers below the lowest trainable one:
freezing is also a speed-up.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from torch import nn

from cotune.methods.catalog import Method, MethodOptions, register


class FreezeOptions(MethodOptions):
    embeddings: bool = Field(True, description="Freeze the embedding layer.")
    bottom_layers: int = Field(0, ge=0, description="Freeze the lowest k encoder layers.")
    all_but_head: bool = Field(False, description="Train only the task head (linear probe).")

    @model_validator(mode="after")
    def _something(self) -> FreezeOptions:
        if not (self.embeddings or self.bottom_layers or self.all_but_head):
            raise ValueError("freezes nothing: set embeddings, bottom_layers or all_but_head")
        return self


def encoder_layers(model: Any) -> nn.ModuleList:
    base = model.base_model
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None:
        raise ValueError(f"{type(base).__name__} has no encoder.layer list to freeze")
    return layers


def apply(model: Any, options: FreezeOptions) -> nn.Module:
    base = model.base_model
    layers = encoder_layers(model)
    if options.bottom_layers > len(layers):
        raise ValueError(
            f"method.bottom_layers={options.bottom_layers} but the model has {len(layers)} layers"
        )
    frozen: list[nn.Module] = []
    if options.all_but_head:
        frozen.append(base)
    if options.embeddings:
        frozen.append(base.embeddings)
    frozen.extend(layers[: options.bottom_layers])
    for p in model.parameters():
        p.requires_grad_(True)
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return model


register(
    Method(
        "freeze",
        "Freeze the embeddings, the bottom k layers, or everything but the task head.",
        FreezeOptions,
        apply,
    )
)
