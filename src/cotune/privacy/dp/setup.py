"""From a run config (`privacy.dp` + `train`) to the DP-SGD plug-in of the loop.

Every way a config can make DP-SGD wrong or impossible is refused here, before training, with
the key and the fix named.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from cotune.config.privacy import DPConfig
from cotune.config.schema import RunConfig, TrainConfig
from cotune.errors import ConfigError
from cotune.privacy.dp.accounting import calibrate_noise, steps_within_budget
from cotune.privacy.dp.clipping import unsupported_modules
from cotune.privacy.dp.engine import DPSGD, DPPlan
from cotune.tasks.base import Feature
from cotune.training.loop import total_steps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrivateFit:
    """What a recipe hands `fit` for a DP run: the engine (a callback that also supplies
    `fit_options()`) and the loop's train config, whole-batch clipping off (each example is
    clipped instead; clipping the noisy sum again would only shrink the noise-free signal)."""

    engine: DPSGD
    train: TrainConfig

    def options(self) -> dict[str, Any]:
        return self.engine.fit_options()


def plan_dp(dp: DPConfig, train: TrainConfig, features: Sequence[Feature]) -> DPPlan:
    n = len(features)
    windows = n - len({f.example_index for f in features})
    if windows:
        raise ConfigError(
            f"{windows} training sentence(s) are longer than model.max_length sub-tokens and "
            "were cut into several windows; DP-SGD's guarantee is per training row, and a "
            "sentence in several rows would be protected less",
            where="privacy.dp / model.max_length",
            fix="raise model.max_length, or shorten or drop the longest sentences",
        )
    expected = train.batch_size * train.grad_accum
    if expected >= n:
        # valid, but full-batch: no privacy amplification by sampling, so much more noise
        log.warning(
            "privacy.dp: the expected batch train.batch_size x train.grad_accum = %d is not "
            "below the %d training rows: every step takes all rows (sampling rate 1)",
            expected,
            n,
        )
        expected = n
    delta = dp.delta if dp.delta is not None else 1.0 / (10 * n)
    if delta >= 1.0 / n:
        raise ConfigError(
            f"privacy.dp.delta={delta:g} is not below 1/n = 1/{n}: a mechanism that publishes "
            "one training row in the clear meets it",
            where="privacy.dp.delta",
            fix=f"leave delta unset (1/(10n) = {1.0 / (10 * n):.2e}) or set it below {1.0 / n:.2e}",
        )
    rate = expected / n
    _, planned = total_steps(n, train)
    sigma = dp.noise_multiplier
    if sigma is None:
        assert dp.epsilon is not None  # the schema asks for one of the two
        try:
            sigma = calibrate_noise(dp.epsilon, delta, rate, planned, dp.accountant)
        except ValueError:
            raise ConfigError(
                f"no noise reaches epsilon {dp.epsilon} over {planned} steps at sampling rate "
                f"{rate:.4f}",
                where="privacy.dp.epsilon",
                fix="raise epsilon, or train fewer steps (train.epochs / train.max_steps)",
            ) from None
        budget_steps = None  # sigma was chosen so that the planned steps fit
    elif dp.epsilon is not None:
        budget_steps = steps_within_budget(dp.epsilon, sigma, rate, delta, dp.accountant)
        if budget_steps == 0:
            raise ConfigError(
                f"one step at noise_multiplier {sigma} already spends more than epsilon "
                f"{dp.epsilon}",
                where="privacy.dp.noise_multiplier",
                fix="raise noise_multiplier or epsilon, or leave noise_multiplier unset "
                "(calibrated from epsilon)",
            )
    else:
        budget_steps = None
    return DPPlan(
        noise_multiplier=sigma,
        max_grad_norm=dp.max_grad_norm,
        expected_batch=expected,
        micro_batch=train.batch_size,
        sample_rate=rate,
        delta=delta,
        accountant=dp.accountant,
        planned_steps=planned,
        seed=train.seed,
        epsilon_target=dp.epsilon,
        budget_steps=budget_steps,
        noise_calibrated=dp.noise_multiplier is None,
    )


def private_fit(cfg: RunConfig, model: nn.Module, features: Sequence[Feature]) -> PrivateFit | None:
    """None without `privacy.dp`; else check the config, calibrate the noise and attach the
    clipping hooks to `model` (the engine's `on_train_end` takes them off again)."""
    dp = cfg.privacy.dp if cfg.privacy is not None else None
    if dp is None:
        return None
    bad = unsupported_modules(model)
    if getattr(getattr(model, "active_peft_config", None), "is_prompt_learning", False):
        # prefix tuning trains an Embedding, but looks it up with one index row expanded over
        # the batch, which Opacus's per-example norms cannot take (it failed mid-step)
        bad = ["the prefix embedding of prefix tuning (one lookup shared by the batch)"]
    if bad:
        raise ConfigError(
            f"DP-SGD needs per-example gradient norms, which cotune has for Linear, Embedding "
            f"and LayerNorm weights only; this method trains {', '.join(bad[:3])}"
            + (" ..." if len(bad) > 3 else ""),
            where="privacy.dp / method.name",
            fix="use method full, freeze or lora with privacy.dp",
        )
    plan = plan_dp(dp, cfg.train, features)
    return PrivateFit(DPSGD(model, plan), cfg.train.model_copy(update={"max_grad_norm": None}))
