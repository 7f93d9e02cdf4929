"""(IA)^3 (Liu et al. 2022): learned vectors that rescale keys, values and the FFN's inner
activation, via peft. The fewest trainable parameters of the weight-based methods; folds exactly
into the weights it scales.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from torch import nn

from cotune.errors import ConfigError
from cotune.methods import peft_io
from cotune.methods.catalog import Method, MethodOptions, register
from cotune.methods.targets import LAYOUTS, fresh_modules, layout_of, resolve_targets


class IA3Options(MethodOptions):
    target_modules: list[str] | None = Field(
        None,
        description="Linear layers inside the encoder layers to rescale (names or suffixes). "
        "Default: attention key and value, and the FFN output layer.",
    )
    feedforward_modules: list[str] | None = Field(
        None,
        description="Targets whose *input* is rescaled (the FFN's inner activation) rather than "
        "their output; a subset of target_modules. Default: the FFN output layer.",
    )


def apply(model: Any, options: IA3Options) -> nn.Module:
    from peft import IA3Config

    if options.target_modules is None:
        layout = layout_of(model, "target_modules")
        names = [layout.key, layout.value, layout.ffn_out]
    else:
        names = options.target_modules
    targets = resolve_targets(model, names, "target_modules")
    if options.feedforward_modules is None:
        # the FFN output layer, where it is targeted: its input is the FFN's inner activation
        layout_ = LAYOUTS.get(getattr(model.config, "model_type", ""))
        ff_names = [layout_.ffn_out] if layout_ and layout_.ffn_out in targets.relative else []
    else:
        ff_names = options.feedforward_modules
    feedforward = resolve_targets(model, ff_names, "feedforward_modules") if ff_names else None
    if feedforward and not set(feedforward.relative) <= set(targets.relative):
        raise ConfigError(
            f"feedforward_modules {feedforward.relative} are not all among target_modules "
            f"{targets.relative}",
            where="method.feedforward_modules",
            fix="list only layers that target_modules also names",
        )
    config = IA3Config(
        task_type=peft_io.task_type(model),
        target_modules=targets.regex,
        feedforward_modules=feedforward.regex if feedforward else [],
        modules_to_save=fresh_modules(model),
    )
    return peft_io.wrap(model, config)


register(
    Method(
        "ia3",
        "(IA)^3: learned rescaling of keys, values and FFN activations (peft).",
        IA3Options,
        apply,
        save=peft_io.save,
        load=peft_io.load,
        merge=peft_io.merge,
    )
)
