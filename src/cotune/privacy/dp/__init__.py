"""Differentially private fine-tuning: DP-SGD (Poisson sampling, per-example clipping by ghost
clipping on Opacus's hooks, Gaussian noise, RDP / PRV accounting) plugged into the one loop.

`private_fit(dp_config, train_config, model, features)` is what a recipe calls; the engine
(`DPSGD`) and its pieces do not depend on the config.
"""

from cotune.privacy.dp.accounting import (
    Accountant,
    calibrate_noise,
    epsilon_after,
    steps_within_budget,
)
from cotune.privacy.dp.clipping import GhostClipper, per_example_losses, unsupported_modules
from cotune.privacy.dp.engine import DPSGD, DPPlan
from cotune.privacy.dp.sampling import poisson_steps
from cotune.privacy.dp.setup import PrivateFit, plan_dp, private_fit

__all__ = [
    "DPSGD",
    "Accountant",
    "DPPlan",
    "GhostClipper",
    "PrivateFit",
    "calibrate_noise",
    "epsilon_after",
    "per_example_losses",
    "plan_dp",
    "poisson_steps",
    "private_fit",
    "steps_within_budget",
    "unsupported_modules",
]
