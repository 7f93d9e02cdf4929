"""LoRA (Hu et al. 2021): a trainable low-rank update B·A beside frozen Linear layers, via peft.

Targets default to the attention query, key and value projections of each encoder layer; the task
head is trained whole and saved with the adapter (`modules_to_save`), never adapted.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from torch import nn

from cotune.methods import peft_io
from cotune.methods.catalog import Method, MethodOptions, register
from cotune.methods.targets import fresh_modules, layout_of, resolve_targets


class LoraOptions(MethodOptions):
    r: int = Field(8, ge=1, description="Rank of the update B·A.")
    alpha: int = Field(16, gt=0, description="The update is scaled by alpha / r.")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the input of the update.")
    target_modules: list[str] | None = Field(
        None,
        description="Linear layers inside the encoder layers to adapt: layer-relative names or "
        "their suffixes (query, value, dense, ...). Default: the attention query, key, value.",
    )


def apply(model: Any, options: LoraOptions) -> nn.Module:
    from peft import LoraConfig

    names = options.target_modules or layout_of(model, "target_modules").attention
    targets = resolve_targets(model, names, "target_modules")
    config = LoraConfig(
        task_type=peft_io.task_type(model),
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=targets.regex,
        modules_to_save=fresh_modules(model),
    )
    return peft_io.wrap(model, config)


register(
    Method(
        "lora",
        "Low-rank updates beside the attention projections (peft); the head trains whole.",
        LoraOptions,
        apply,
        save=peft_io.save,
        load=peft_io.load,
        merge=peft_io.merge,
    )
)
