"""A time budget turned into a step count, once, at the start of a run.

Stopping on the clock would end the learning-rate schedule half-way and make a resumed run
differ from an uninterrupted one. Instead a short probe times a few real optimizer steps (on a
throw-away copy of the model) and fixes `max_steps`; the figure is saved with the run, so
`--resume` continues towards the same step count. The budget counts training time only, as the
loop's `train_seconds` does; evaluations come on top.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cotune.config.schema import TrainConfig
from cotune.files import atomic_write_text
from cotune.tasks.base import Feature, to_device
from cotune.training.loss import LossFn, count_units
from cotune.training.optim import build_optimizer

BUDGET_FILE = "budget.json"
PROBE_STEPS = 3


def probe_seconds_per_token(
    model: nn.Module,
    collate: Callable[[Sequence[Feature]], dict[str, torch.Tensor]],
    features: Sequence[Feature],
    cfg: TrainConfig,
    loss_fn: LossFn,
) -> float:
    """Seconds of one optimizer step per (padded) token, timed on random batches."""
    if cfg.threads:  # time with the threads the loop will use
        torch.set_num_threads(cfg.threads)
    trial = copy.deepcopy(model)
    trial.train()
    optimizer = build_optimizer(trial, cfg)
    rng = random.Random(cfg.seed)
    seconds, tokens = 0.0, 0
    for k in range(PROBE_STEPS + 1):  # the first step warms up allocators and kernels
        batch = [
            features[i]
            for i in rng.sample(range(len(features)), min(cfg.batch_size, len(features)))
        ]
        _synchronize(trial)
        t0 = time.perf_counter()
        micro = to_device(collate(batch), trial)
        loss = loss_fn(trial, micro) / max(count_units(micro), 1)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _synchronize(trial)
        if k:
            seconds += time.perf_counter() - t0
            tokens += int(micro["input_ids"].numel())
    del trial, optimizer
    return seconds / max(tokens, 1)


def _synchronize(model: nn.Module) -> None:
    """Wait for queued GPU work: without it a CUDA step times only its kernel launches."""
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps_for_budget(
    out: Path,
    minutes: float,
    model: nn.Module,
    collate: Callable[[Sequence[Feature]], dict[str, torch.Tensor]],
    features: Sequence[Feature],
    cfg: TrainConfig,
    loss_fn: LossFn,
) -> dict[str, Any]:
    """{minutes, seconds_per_step, steps}: probed now, or read back from an earlier start."""
    saved = out / BUDGET_FILE
    if saved.is_file():
        record: dict[str, Any] = json.loads(saved.read_text(encoding="utf-8"))
        if record.get("minutes") == minutes:
            return record
    per_token = probe_seconds_per_token(model, collate, features, cfg, loss_fn)
    mean_len = sum(len(f) for f in features) / max(len(features), 1)
    # length-grouped batches carry little padding: a step costs about its real tokens
    seconds_per_step = per_token * mean_len * cfg.batch_size * cfg.grad_accum
    record = {
        "minutes": minutes,
        "seconds_per_token": per_token,
        "seconds_per_step": seconds_per_step,
        "steps": max(1, int(minutes * 60 / max(seconds_per_step, 1e-9))),
    }
    atomic_write_text(saved, json.dumps(record, indent=2))
    return record
