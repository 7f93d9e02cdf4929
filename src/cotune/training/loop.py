"""The one training loop. Recipes (fine-tune, distil, DP, federated client step) all call `fit`.

What changes the numbers lives here once: loss normalisation under gradient accumulation,
clipping, the schedule, evaluation and best-model selection, checkpoint/resume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from cotune.config.schema import TrainConfig
from cotune.tasks.base import Feature, to_device
from cotune.training import distributed
from cotune.training.batching import epoch_batches
from cotune.training.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from cotune.training.loss import LossFn, count_units, task_loss
from cotune.training.optim import build_optimizer, freeze_word_embeddings, linear_schedule
from cotune.training.precision import Precision
from cotune.training.progress import make_progress

LOG_EVERY = 10


@dataclass
class TrainState:
    """Everything about the loop's position that a resumed run needs."""

    step: int = 0
    epoch: int = 0
    group_in_epoch: int = 0  # optimizer steps already taken in `epoch`
    best_metric: float | None = None
    best_step: int = 0
    evals_without_gain: int = 0
    stopped_early: bool = False
    train_seconds: float = 0.0
    train_words: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    # resumable state of loop plug-ins (DP's privacy accountant), checkpointed with the rest;
    # plain lists and numbers only (checkpoints load with weights_only=True)
    plugins: dict[str, Any] = field(default_factory=dict)


class Callback(Protocol):
    """Called after every optimizer step. A callback may also define any of these optional
    hooks (looked up by name, so plain `on_step_end` callbacks need nothing more):

    - `on_after_backward(state, model)`: gradients of the whole step are in, before clipping
      (it runs for a step with no examples too: DP's noise-only step);
    - `on_before_step(state, model)`: after clipping, just before optimizer.step() (a penalty
      whose gradient is exact, not noise to clip: continual learning's L2-SP / EWC);
    - `on_before_zero_grad(state, model)`: after optimizer.step(), gradients still there
      (AdaLoRA's budget allocation scores importance from them); `state.step` is still the
      number of steps finished before this one;
    - `on_train_end(state, model)`: after the best weights were reloaded.

    A hook that sets `state.stopped_early` before the step's evaluation point (DP's privacy
    budget) gets the step's weights evaluated, then the loop stops.
    """

    def on_step_end(self, state: TrainState, model: nn.Module) -> None: ...


def _call_optional(
    callbacks: Sequence[Callback], hook: str, state: TrainState, model: nn.Module
) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(state, model)


Evaluate = Callable[[nn.Module], dict[str, Any]]
# (feature lengths, epoch) -> that epoch's optimizer steps, each a list of micro-batches of
# feature indices. The same epoch must always give the same steps (a resumed run replays it).
BatchPlan = Callable[[Sequence[int], int], list[list[list[int]]]]


def shuffled_plan(cfg: TrainConfig) -> BatchPlan:
    """The default plan: seeded shuffled batches (by length if asked), grad_accum per step."""

    def plan(lengths: Sequence[int], epoch: int) -> list[list[list[int]]]:
        batches = epoch_batches(
            lengths, cfg.batch_size, seed=cfg.seed, epoch=epoch, group_by_length=cfg.group_by_length
        )
        return [batches[g : g + cfg.grad_accum] for g in range(0, len(batches), cfg.grad_accum)]

    return plan


@dataclass
class FitResult:
    state: TrainState
    total_steps: int
    steps_per_epoch: int

    @property
    def epochs(self) -> float:
        return self.state.step / max(1, self.steps_per_epoch)

    @property
    def words_per_second(self) -> float:
        return self.state.train_words / max(self.state.train_seconds, 1e-9)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in tensors.items():
            params[name].copy_(value)


def total_steps(n_features: int, cfg: TrainConfig) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps)."""
    per_epoch = math.ceil(math.ceil(n_features / cfg.batch_size) / cfg.grad_accum)
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch))
    return per_epoch, total


def fit(
    model: nn.Module,
    collate: Callable[[Sequence[Feature]], dict[str, torch.Tensor]],
    features: Sequence[Feature],
    words: Sequence[int],
    evaluate: Evaluate,
    cfg: TrainConfig,
    *,
    metric: str,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    loss_fn: LossFn = task_loss,
    loss_units: Callable[[dict[str, torch.Tensor]], int] = count_units,
    batch_plan: BatchPlan | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool | None = None,
    world: distributed.World | None = None,
) -> FitResult:
    """Train `model` on `features`; keep the weights of the best dev evaluation.

    `words[i]` is the number of words feature i trains on (for throughput in words/s).
    `evaluate(model)` returns dev metrics including `metric` (higher is better).
    `loss_fn` returns a summed loss, divided by the `loss_units` of the whole step;
    `batch_plan` orders the batches (default `shuffled_plan(cfg)`; DP: Poisson sampling).

    Under torchrun (`world`, default: the process group this process is in) every rank runs
    `fit` on the same features: each takes its share of every global micro-batch, gradients are
    summed over ranks once per step, and only rank 0 evaluates (its metrics are sent to the
    others, so early stopping and best-model choice agree) and writes checkpoints.
    """
    world = world or distributed.current()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    per_epoch, total = total_steps(len(features), cfg)
    warmup = int(cfg.warmup_ratio * total)
    distributed.broadcast_parameters(model, world)
    # the same seed on every rank would give every rank the same dropout masks
    torch.manual_seed(cfg.seed + world.rank)
    precision = Precision(cfg.precision, next(model.parameters()).device)
    if cfg.freeze_word_embeddings:
        freeze_word_embeddings(model)
    optimizer = build_optimizer(model, cfg)
    scheduler = linear_schedule(optimizer, warmup, total)
    trainable = [p for p in model.parameters() if p.requires_grad]
    state = TrainState()
    best: dict[str, torch.Tensor] | None = None
    lengths = [len(f) for f in features]
    eval_every = cfg.eval_every or per_epoch
    plan = batch_plan or shuffled_plan(cfg)

    if resume and checkpoint_dir is not None:
        # rank 0 reads the checkpoint and sends it: other machines need not see its disk
        saved = distributed.broadcast(
            _read_latest(checkpoint_dir) if world.is_main else None, world
        )
        if saved is not None:
            load_trainable(model, saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            precision.load_state_dict(saved.get("scaler") or {})
            state = TrainState(**saved["state"])
            best = saved.get("best")
            set_rng_state(_rank_rng(saved, world.rank))

    def checkpoint() -> None:
        if checkpoint_dir is None:
            return
        rngs = distributed.gather(rng_state(), world)  # each rank's dropout stream resumes
        if world.is_main:
            save_checkpoint(
                checkpoint_dir,
                state.step,
                {
                    "model": trainable_state(model),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": precision.state_dict(),
                    "state": asdict(state),
                    "best": best,
                    "rng": rngs[0],
                    "rng_ranks": rngs,
                },
                keep=cfg.keep_checkpoints,
            )
        distributed.barrier(world)

    def run_eval() -> bool:
        """Evaluate on dev; returns True when early stopping says stop."""
        nonlocal best
        metrics: dict[str, Any] = distributed.broadcast(
            evaluate(model) if world.is_main else {}, world
        )
        value = float(metrics[metric])
        entry = {"step": state.step, "epoch": state.step / per_epoch, f"dev_{metric}": value}
        state.history.append({"type": "eval", **entry, "dev": _scalars(metrics)})
        if state.best_metric is None or value > state.best_metric:
            state.best_metric, state.best_step, state.evals_without_gain = value, state.step, 0
            best = trainable_state(model)
        else:
            state.evals_without_gain += 1
        patience = cfg.early_stopping_patience
        return patience is not None and state.evals_without_gain >= patience

    model.train()
    bar = make_progress(progress if world.is_main else False)
    with bar:
        task_id = bar.add_task("train", total=total, completed=state.step, info="")
        window_loss, window_units, window_words, window_time = 0.0, 0, 0, 0.0
        while state.step < total and not state.stopped_early:
            groups = plan(lengths, state.epoch)
            for group in groups[state.group_in_epoch :]:
                t0 = time.perf_counter()
                mine = [distributed.shard(b, world) for b in group] if world.enabled else group
                micro = [to_device(collate([features[i] for i in b]), model) for b in mine if b]
                # divided by the units of the whole global step: exact accumulation, and
                # summing the ranks' gradients gives the gradient of the global batch
                (units_f,) = distributed.all_sum([sum(loss_units(m) for m in micro)], world)
                units = int(units_f)
                step_loss = 0.0
                for m in micro:
                    with precision.autocast():
                        loss = loss_fn(model, m) / max(units, 1)
                    precision.backward(loss)
                    step_loss += float(loss.detach())
                distributed.sync_gradients(trainable, world)
                _call_optional(callbacks, "on_after_backward", state, model)
                precision.unscale(optimizer)
                if cfg.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm)
                _call_optional(callbacks, "on_before_step", state, model)
                precision.step(optimizer)
                scheduler.step()
                _call_optional(callbacks, "on_before_zero_grad", state, model)
                optimizer.zero_grad(set_to_none=True)
                dt = time.perf_counter() - t0
                n_words = sum(words[i] for b in group for i in b)
                state.step += 1
                state.group_in_epoch += 1
                state.train_seconds += dt
                state.train_words += n_words
                window_loss += step_loss * units
                window_units += units
                window_words += n_words
                window_time += dt
                if state.step % LOG_EVERY == 0 or state.step == total:
                    (window_loss,) = distributed.all_sum([window_loss], world)
                    state.history.append(
                        {
                            "type": "train",
                            "step": state.step,
                            "epoch": state.step / per_epoch,
                            "loss": window_loss / max(window_units, 1),
                            "lr": scheduler.get_last_lr()[0],
                            "words_per_s": window_words / max(window_time, 1e-9),
                        }
                    )
                    bar.update(
                        task_id,
                        info=f"loss {state.history[-1]['loss']:.4f} "
                        f"{state.history[-1]['words_per_s']:.0f} words/s",
                    )
                    window_loss, window_units, window_words, window_time = 0.0, 0, 0, 0.0
                bar.update(task_id, completed=state.step)
                end_of_epoch = state.group_in_epoch == len(groups)
                if (
                    state.step % eval_every == 0
                    or state.step == total
                    or (cfg.eval_every is None and end_of_epoch)
                    or state.stopped_early  # a hook stopped the run: its last weights count
                ):
                    state.stopped_early = run_eval() or state.stopped_early
                    model.train()
                if end_of_epoch:
                    state.epoch += 1
                    state.group_in_epoch = 0
                if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
                    checkpoint()
                for cb in callbacks:
                    cb.on_step_end(state, model)
                if state.step >= total or state.stopped_early:
                    break
            else:
                continue
            break
    if best is not None:
        load_trainable(model, best)
    _call_optional(callbacks, "on_train_end", state, model)
    model.eval()
    return FitResult(state, total, per_epoch)


def _read_latest(folder: Path) -> dict[str, Any] | None:
    ckpt = latest_checkpoint(folder)
    return load_checkpoint(ckpt) if ckpt is not None else None


def _rank_rng(saved: dict[str, Any], rank: int) -> dict[str, Any]:
    """This rank's saved RNG state; a rank the saved run did not have starts from its seed's
    state at rank 0 (checkpoints before data parallelism hold one state)."""
    ranks = saved.get("rng_ranks") or [saved["rng"]]
    return ranks[rank] if rank < len(ranks) else ranks[0]


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
