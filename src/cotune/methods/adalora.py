"""AdaLoRA (Zhang et al. 2023): LoRA in SVD form whose rank budget is re-allocated while training.

AdaLoRA only differs from LoRA if its schedule runs: `update_and_allocate` after every
optimizer step and before the gradients are cleared (it scores importance from them), and the
orthogonality penalty on P and Q. Under a generic trainer neither happens silently (peft issue
1327; peft adds the penalty only to a loss the model itself computes, and cotune's loop computes
the loss from logits). So this method hands the loop an `AdaLoraSchedule` callback
(`Method.callbacks`) that does both, with the schedule's step counts taken from the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, model_validator
from torch import nn

from cotune.methods import peft_io
from cotune.methods.catalog import Method, MethodContext, MethodOptions, register
from cotune.methods.targets import fresh_modules, layout_of, resolve_targets

# peft demands a schedule when the model is wrapped, before the run's length is known; this
# placeholder is replaced by `AdaLoraSchedule` and flags a model trained without it.
_UNSCHEDULED = 10**9


class AdaLoraOptions(MethodOptions):
    init_r: int = Field(12, ge=1, description="Rank of every adapted layer before pruning.")
    target_r: int = Field(8, ge=1, description="Average rank per layer once the budget is spent.")
    alpha: int = Field(16, gt=0, description="The update is scaled by alpha / rank.")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the input of the update.")
    target_modules: list[str] | None = Field(
        None,
        description="Linear layers inside the encoder layers to adapt (names or suffixes). "
        "Default: all six of each layer (query, key, value, attention output, FFN in and out), "
        "as in the paper, so the budget can move between them.",
    )
    tinit: float = Field(
        0.1, ge=0, lt=1, description="Share of the training steps before any rank is pruned."
    )
    tfinal: float = Field(
        0.2, ge=0, lt=1, description="Share of the training steps at the end with ranks fixed."
    )
    delta_t: int = Field(1, ge=1, description="Steps between two budget re-allocations.")
    beta1: float = Field(0.85, gt=0, lt=1, description="EMA factor of the importance scores.")
    beta2: float = Field(0.85, gt=0, lt=1, description="EMA factor of their uncertainty.")
    orth_reg_weight: float = Field(
        0.5, ge=0, description="Weight of the penalty keeping P and Q orthogonal."
    )

    @model_validator(mode="after")
    def _schedule(self) -> AdaLoraOptions:
        if self.target_r > self.init_r:
            raise ValueError(f"target_r={self.target_r} exceeds init_r={self.init_r}")
        if self.tinit + self.tfinal >= 1:
            raise ValueError(f"tinit + tfinal = {self.tinit + self.tfinal} leaves no budgeting")
        return self


def apply(model: Any, options: AdaLoraOptions) -> nn.Module:
    from peft import AdaLoraConfig

    if options.target_modules is None:
        layout = layout_of(model, "target_modules")
        names = [*layout.attention, layout.attention_out, layout.ffn_in, layout.ffn_out]
    else:
        names = options.target_modules
    targets = resolve_targets(model, names, "target_modules")
    config = AdaLoraConfig(
        task_type=peft_io.task_type(model),
        init_r=options.init_r,
        target_r=options.target_r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=targets.regex,
        modules_to_save=fresh_modules(model),
        beta1=options.beta1,
        beta2=options.beta2,
        orth_reg_weight=options.orth_reg_weight,
        deltaT=options.delta_t,
        total_step=_UNSCHEDULED,
    )
    return peft_io.wrap(model, config)


def schedule_steps(options: AdaLoraOptions, total: int) -> tuple[int, int]:
    """(tinit, tfinal) in steps. At least one final step, so the final budget is applied:
    peft fixes the ranks at step total - tfinal, which a 0-based loop never reaches if 0."""
    tfinal = max(1, round(options.tfinal * total)) if total > 1 else 0
    tinit = min(round(options.tinit * total), max(0, total - tfinal - 1))
    return tinit, tfinal


class AdaLoraSchedule:
    """Loop callback: orthogonality penalty, budget allocation, final ranks after best-reload."""

    def __init__(self, model: Any, options: AdaLoraOptions, context: MethodContext) -> None:
        self.tuner = model.base_model
        self.config = self.tuner.peft_config[self.tuner.trainable_adapter_name]
        # the rank allocator reads this same config object at every step
        self.config.total_step = context.total_steps
        self.config.tinit, self.config.tfinal = schedule_steps(options, context.total_steps)
        self.weight = options.orth_reg_weight

    def on_after_backward(self, state: Any, model: nn.Module) -> None:
        if self.weight > 0:
            (
                self.weight * orthogonality_penalty(model, self.tuner.trainable_adapter_name)
            ).backward()

    def on_before_zero_grad(self, state: Any, model: nn.Module) -> None:
        # state.step counts the steps finished before this one: peft's 0-based global step
        self.tuner.update_and_allocate(state.step)

    def on_step_end(self, state: Any, model: nn.Module) -> None:
        pass

    def on_train_end(self, state: Any, model: nn.Module) -> None:
        # the loop may have reloaded the best dev weights from before the final allocation:
        # re-apply the final ranks so the model matches what its saved rank pattern keeps
        if self.config.rank_pattern:
            self.tuner.rankallocator.mask_using_rank_pattern(
                self.tuner.model, self.config.rank_pattern
            )


def orthogonality_penalty(model: nn.Module, adapter: str) -> torch.Tensor:
    """Mean over adapted layers of ||P P^T - I||_F and ||Q^T Q - I||_F (the paper's R(P, Q))."""
    terms = []
    for name, p in model.named_parameters():
        if name.endswith(f"lora_A.{adapter}"):
            cov = p @ p.T
        elif name.endswith(f"lora_B.{adapter}"):
            cov = p.T @ p
        else:
            continue
        eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
        terms.append(torch.linalg.matrix_norm(cov - eye))
    return torch.stack(terms).mean() if terms else torch.zeros(())


def rank_budget(model: nn.Module) -> int:
    """Ranks in use: the singular values (lora_E entries) not pruned to zero."""
    return sum(int((p != 0).sum()) for n, p in model.named_parameters() if ".lora_E." in n)


def callbacks(model: Any, options: AdaLoraOptions, context: MethodContext) -> list[Any]:
    return [AdaLoraSchedule(model, options, context)]


def save(model: Any, folder: Path) -> None:
    tuner = model.base_model
    if tuner.peft_config[tuner.trainable_adapter_name].total_step == _UNSCHEDULED:
        warnings.warn(
            "AdaLoRA was trained without its rank schedule (no AdaLoraSchedule callback): the "
            "ranks were never re-allocated; pass Method.training_callbacks(...) to fit",
            stacklevel=2,
        )
    with warnings.catch_warnings():
        # a layer pruned to rank 0 is a legitimate AdaLoRA outcome, not an unsaved shard
        warnings.filterwarnings("ignore", message=".*LoRA tensor\\(s\\) have invalid shape")
        peft_io.save(model, folder)


def load(folder: Path, build_base: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        # peft checks AdaLoRA's rank_pattern (kept ranks) as if it were LoRA's (rank per
        # module name) and calls every key unmatched; AdaLoRA's own loader does use them
        warnings.filterwarnings("ignore", message="The following rank_pattern keys did not match")
        return peft_io.load(folder, build_base)


register(
    Method(
        "adalora",
        "AdaLoRA: SVD-form LoRA whose rank budget moves to the layers that need it (peft).",
        AdaLoraOptions,
        apply,
        save=save,
        load=load,
        merge=peft_io.merge,
        callbacks=callbacks,
    )
)
