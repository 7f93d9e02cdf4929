"""Where and how reproducibly a run computes: the device it trains on, and its seeds."""

from __future__ import annotations

import random

import numpy as np
import torch

from cotune.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "train.device is cuda but no CUDA GPU is visible",
            where="train.device",
            fix="use auto or cpu",
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
