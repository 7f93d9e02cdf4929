"""Mixed precision for the loop: bf16 or fp16 autocast (`train.precision`), fp32 weights.

The weights, the optimizer state and the loss sums stay fp32; only the matrix products inside
the forward pass run in the lower precision. fp16's narrow range needs loss scaling (a
GradScaler, checkpointed with the rest); bf16 has fp32's range and needs none. fp16 is a GPU
format: CPUs have no fp16 matrix kernels worth using, so it is refused there. bf16 on a CPU runs,
but only CPUs with bf16 instructions (AVX-512 BF16, AMX) gain from it: on an AVX2 CPU it was
about 27x slower than fp32 (docs/scale.md).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from cotune.errors import ConfigError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast context and (fp16) loss scaling for one device."""

    def __init__(self, name: str, device: torch.device) -> None:
        if name == "fp16" and device.type != "cuda":
            raise ConfigError(
                "train.precision fp16 needs a CUDA GPU; this run trains on the CPU",
                where="train.precision",
                fix="use fp32 on the CPU (bf16 only helps CPUs with bf16 instructions), or "
                "train on a GPU (train.device: cuda)",
            )
        if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError(
                "train.precision bf16: this GPU has no bf16 support",
                where="train.precision",
                fix="use fp16 (with loss scaling) or fp32",
            )
        self.name = name
        self.device = device
        self.scaler: Any = torch.amp.GradScaler("cuda") if name == "fp16" else None

    def autocast(self) -> AbstractContextManager[Any]:
        if self.name not in DTYPES:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=DTYPES[self.name])

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Gradients back to their true scale, before clipping and the step."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """optimizer.step(); under fp16 skipped for a step whose gradients overflowed."""
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
