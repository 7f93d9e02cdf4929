"""Prefix tuning (Li & Liang 2021): learned key/value vectors prepended in every attention layer,
via peft. Works for BertForTokenClassification and BertForSequenceClassification in peft 0.21
(transformers 5 takes the prefix as a cache; padding does not change a sentence's outputs).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from torch import nn

from cotune.errors import ArtifactError
from cotune.methods import peft_io
from cotune.methods.catalog import Method, MethodOptions, register
from cotune.methods.targets import fresh_modules

WHY_NOT_MERGEABLE = (
    "prefix tuning cannot be merged: its prefix is extra key/value vectors that every attention "
    "layer attends to, i.e. extra inputs, not a change to any weight matrix, so there is nothing "
    "to fold into the base weights"
)


class PrefixOptions(MethodOptions):
    num_virtual_tokens: int = Field(20, ge=1, description="Length of the learned prefix.")
    projection: bool = Field(
        False,
        description="Reparametrise the prefix through a 2-layer MLP while training (Li & Liang); "
        "steadier at high learning rates, more trainable parameters.",
    )
    projection_hidden: int = Field(
        256, ge=1, description="Hidden width of that MLP (with projection)."
    )


def apply(model: Any, options: PrefixOptions) -> nn.Module:
    from peft import PrefixTuningConfig

    config = PrefixTuningConfig(
        task_type=peft_io.task_type(model),
        num_virtual_tokens=options.num_virtual_tokens,
        prefix_projection=options.projection,
        encoder_hidden_size=options.projection_hidden,
        modules_to_save=fresh_modules(model),
    )
    return peft_io.wrap(model, config)


def merge(model: Any, options: Any) -> nn.Module:
    raise ArtifactError(
        WHY_NOT_MERGEABLE,
        fix="ship the adapter artifact as it is (`cotune predict` / `load_artifact` load it over "
        "its base model), or train with method lora / ia3 to get a mergeable model",
    )


register(
    Method(
        "prefix",
        "Prefix tuning: learned key/value prefixes in every attention layer (peft); not mergeable.",
        PrefixOptions,
        apply,
        save=peft_io.save,
        load=peft_io.load,
        mergeable=False,
        merge=merge,
    )
)
