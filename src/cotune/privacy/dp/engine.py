"""DP-SGD as a plug-in of the one training loop (`cotune.training.loop.fit`).

What `fit` gets from here, and why each piece:

- `batch_plan`: Poisson-sampled steps (sampling.py), which the accountant's analysis assumes;
- `loss_fn`: per-example losses whose backward leaves the sum of clipped per-example
  gradients (clipping.py); `loss_units` counts rows, so the logged loss is the mean
  per-example loss;
- callback hooks: after the backward of a step, Gaussian noise of std sigma * C is added to
  the clipped sum and the result divided by the *expected* batch size (a data-dependent
  divisor would leak the batch size); the step is accounted, and when the next step would
  exceed the epsilon budget the loop is asked to stop (it evaluates the last weights first).
  Each logged step also gets `dp_snr`, the norm of the clipped sum over the norm of the noise
  added to it: below ~1 the step is mostly noise, and a run whose SNR stays far below 1 learns
  nothing whatever its learning rate (the usual cause: too few rows for the epsilon).

The accountant's history goes into `TrainState.plugins["dp"]`, which checkpoints carry, so a
resumed run continues the accounting where it stopped. Noise comes from torch's global
generator, which the loop seeds and checkpoints: runs are reproducible, and, as in Opacus
without `secure_mode`, the noise is not from a cryptographic generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cotune.privacy.dp.accounting import Accountant, epsilon_after
from cotune.privacy.dp.clipping import GhostClipper
from cotune.privacy.dp.sampling import poisson_steps

PLUGIN_KEY = "dp"


@dataclass(frozen=True)
class DPPlan:
    """The resolved parameters of one DP-SGD run."""

    noise_multiplier: float
    max_grad_norm: float
    expected_batch: int  # rows per step in expectation (the divisor of the noisy sum)
    micro_batch: int  # most rows per forward/backward
    sample_rate: float
    delta: float
    accountant: str
    planned_steps: int
    seed: int
    epsilon_target: float | None = None
    budget_steps: int | None = None  # most steps within epsilon_target at this noise
    noise_calibrated: bool = False  # sigma derived from epsilon_target over planned_steps


class DPSGD:
    """Clipping, noise, Poisson sampling and accounting for one run over `model`."""

    def __init__(self, model: nn.Module, plan: DPPlan) -> None:
        self.plan = plan
        self.clipper = GhostClipper(model, plan.max_grad_norm)
        self.accountant = Accountant(
            plan.noise_multiplier, plan.sample_rate, plan.delta, plan.accountant
        )
        self.budget_exhausted = False
        self._restored = False
        self._step_rows = 0  # rows of the step being accumulated (the loop divided by them)
        self._window = [0, 0]  # rows clipped, rows seen since the last train log entry
        self._total = [0, 0]
        self._snr: list[float] = []  # signal / noise norm of each step since the last entry
        self._snr_sum, self._snr_steps = 0.0, 0  # over all of this process's steps
        self._epsilons: dict[int, float] = {}

    # -- what `fit` takes -------------------------------------------------------------------

    def fit_options(self) -> dict[str, Any]:
        return {"loss_fn": self.loss, "loss_units": rows_of, "batch_plan": self.batch_plan}

    def batch_plan(self, lengths: Sequence[int], epoch: int) -> list[list[list[int]]]:
        return poisson_steps(
            lengths,
            epoch,
            expected_batch=self.plan.expected_batch,
            micro_batch=self.plan.micro_batch,
            seed=self.plan.seed,
        )

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        loss, norms = self.clipper.clipped_loss(model, batch)
        clipped = int((norms > self.plan.max_grad_norm).sum())
        self._step_rows += int(norms.shape[0])
        for counter in (self._window, self._total):
            counter[0] += clipped
            counter[1] += int(norms.shape[0])
        return loss

    # -- loop hooks -------------------------------------------------------------------------

    def on_after_backward(self, state: Any, model: nn.Module) -> None:
        """Noise the clipped sum, divide by the expected batch, account the step."""
        self._restore(state)
        std = self.plan.noise_multiplier * self.plan.max_grad_norm
        undo = max(self._step_rows, 1)  # the loop divided the loss by the step's rows
        signal_sq = noise_sq = 0.0
        for p in self.clipper.params:
            summed = p.grad * undo if p.grad is not None else torch.zeros_like(p)
            noise = torch.normal(0.0, std, size=p.shape, device=p.device, dtype=p.dtype)
            signal_sq += float(summed.float().pow(2).sum())
            noise_sq += float(noise.float().pow(2).sum())
            p.grad = (summed + noise) / self.plan.expected_batch
        if noise_sq > 0:
            snr = (signal_sq / noise_sq) ** 0.5
            self._snr.append(snr)
            self._snr_sum += snr
            self._snr_steps += 1
        self._step_rows = 0
        self.accountant.step()
        state.plugins[PLUGIN_KEY] = {**self.accountant.state(), "clipped": list(self._total)}
        budget = self.plan.budget_steps
        if budget is not None and self.accountant.steps >= budget:
            self.budget_exhausted = True
            state.stopped_early = True  # the loop evaluates these weights, then stops

    def on_step_end(self, state: Any, model: nn.Module) -> None:
        """Record the spent epsilon on each log / eval entry (and the clipped share)."""
        for entry in reversed(state.history):
            if "epsilon" in entry:
                break
            entry["epsilon"] = self.epsilon_at(int(entry["step"]))
            if entry.get("type") == "train" and self._window[1]:
                entry["dp_clipped_frac"] = self._window[0] / self._window[1]
                self._window = [0, 0]
            if entry.get("type") == "train" and self._snr:
                entry["dp_snr"] = sum(self._snr) / len(self._snr)
                self._snr = []

    def on_train_end(self, state: Any, model: nn.Module) -> None:
        self.clipper.close()

    # -- reporting --------------------------------------------------------------------------

    def epsilon_at(self, step: int) -> float:
        if step not in self._epsilons:
            self._epsilons[step] = (
                self.accountant.epsilon()
                if step == self.accountant.steps
                else epsilon_after(
                    step,
                    self.plan.noise_multiplier,
                    self.plan.sample_rate,
                    self.plan.delta,
                    self.plan.accountant,
                )
            )
        return self._epsilons[step]

    def summary(self) -> dict[str, Any]:
        """metrics.json's `training.privacy` block."""
        p = self.plan
        return {
            "mechanism": "DP-SGD (Poisson sampling, per-example clipping, Gaussian noise)",
            "epsilon": round(self.epsilon_at(self.accountant.steps), 4),
            "epsilon_target": p.epsilon_target,
            "delta": p.delta,
            "max_grad_norm": p.max_grad_norm,
            "noise_multiplier": round(p.noise_multiplier, 6),
            "noise_calibrated": p.noise_calibrated,
            "sample_rate": round(p.sample_rate, 6),
            "expected_batch_size": p.expected_batch,
            "accountant": p.accountant,
            "steps": self.accountant.steps,
            "planned_steps": p.planned_steps,
            "budget_exhausted": self.budget_exhausted,
            "clipped_fraction": round(self._total[0] / max(self._total[1], 1), 4),
            # this process's steps (a resumed run restarts the mean); None without noise
            "mean_snr": round(self._snr_sum / self._snr_steps, 4) if self._snr_steps else None,
            "privacy_unit": "one training row (sentence or text)",
        }

    def _restore(self, state: Any) -> None:
        """On the first step of a resumed run, continue the checkpoint's accounting."""
        if self._restored:
            return
        self._restored = True
        saved = state.plugins.get(PLUGIN_KEY)
        if saved is not None:
            self.accountant.load(saved)
            self._total = [int(x) for x in saved.get("clipped", [0, 0])]
        if self.accountant.steps != state.step:
            raise RuntimeError(
                f"the checkpoint at step {state.step} accounts {self.accountant.steps} private "
                "steps: it was not written by this DP run; start the run afresh"
            )


def rows_of(batch: dict[str, torch.Tensor]) -> int:
    """DP averages the loss over rows (examples), each weighted alike."""
    return int(batch["input_ids"].shape[0])
