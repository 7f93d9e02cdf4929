"""Full fine-tuning: every weight trains."""

from __future__ import annotations

from typing import Any

from torch import nn

from cotune.methods.catalog import Method, MethodOptions, register


class FullOptions(MethodOptions):
    pass


def apply(model: Any, options: FullOptions) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(True)
    return model


register(Method("full", "Full fine-tuning of every weight.", FullOptions, apply))
