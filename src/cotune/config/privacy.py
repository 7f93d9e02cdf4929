"""Config section `privacy:` of a run: differential privacy of the fine-tuning (`privacy.dp`).

Kept out of schema.py so that file stays the map of a run; RunConfig imports this section.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cotune.config.section import Section


class DPConfig(Section):
    """DP-SGD (Abadi et al. 2016): Poisson-sampled batches, each example's gradient clipped to
    `max_grad_norm`, Gaussian noise of std `noise_multiplier * max_grad_norm` on the sum.

    The privacy unit is one training row (a sentence or a text; an NER sentence longer than
    model.max_length is refused, not windowed). The expected batch is train.batch_size x
    train.grad_accum rows, at most all of them (grad_accum cuts each Poisson batch into
    micro-batches of at most train.batch_size); train.max_grad_norm (whole-batch clipping)
    does not apply under DP. Methods: full, freeze, lora (Linear / Embedding / LayerNorm
    weights, whose per-example gradient norms Opacus computes).
    """

    epsilon: float | None = Field(
        None,
        gt=0,
        description="Privacy budget epsilon. Alone: the noise is calibrated so that the planned "
        "steps spend it. With noise_multiplier: a hard budget; training stops before a step "
        "that would exceed it.",
    )
    noise_multiplier: float | None = Field(
        None,
        gt=0,
        description="Noise std / clipping norm (sigma). Fixes the noise instead of calibrating "
        "it from epsilon; the spent epsilon is reported either way.",
    )
    delta: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Privacy parameter delta (default: 1 / (10 x training rows), below the "
        "1/n that a per-row guarantee needs).",
    )
    max_grad_norm: float = Field(
        1.0, gt=0, description="Clipping norm C of each example's gradient (all trained weights)."
    )
    accountant: Literal["rdp", "prv"] = Field(
        "rdp",
        description="Privacy accountant: rdp (Renyi DP, Mironov 2017) or prv (privacy random "
        "variables, Gopi et al. 2021: tighter epsilon, slower to compute).",
    )

    @model_validator(mode="after")
    def _noise_source(self) -> DPConfig:
        if self.epsilon is None and self.noise_multiplier is None:
            raise ValueError(
                "privacy.dp needs epsilon (a budget to calibrate the noise to) or "
                "noise_multiplier (fixed noise), or both (fixed noise, stop at the budget)"
            )
        return self


class PrivacyConfig(Section):
    dp: DPConfig | None = Field(
        None, description="Differentially private fine-tuning (DP-SGD via Opacus)."
    )
