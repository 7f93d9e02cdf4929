"""What travels between server and parties: the trainable weights only, as named numpy arrays.

A LoRA model sends its adapter and task head (a few hundred KB for MiniLM) instead of the whole
encoder; `full` sends everything. The names are the model's parameter names, so a party loads
what it receives with `load_trainable`, the training loop's own loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from cotune.training.loop import load_trainable, trainable_state

Arrays = dict[str, np.ndarray]


def trainable_arrays(model: nn.Module) -> Arrays:
    """The model's trainable weights as float32 numpy arrays, in parameter order."""
    return {n: t.detach().cpu().float().numpy().copy() for n, t in trainable_state(model).items()}


def load_arrays(model: nn.Module, arrays: Mapping[str, np.ndarray]) -> None:
    """Copy received arrays into the model's trainable weights (names must match)."""
    params = dict(model.named_parameters())
    tensors: dict[str, torch.Tensor] = {}
    for name, value in arrays.items():
        p = params[name]
        tensors[name] = torch.as_tensor(np.asarray(value), dtype=p.dtype, device=p.device)
    load_trainable(model, tensors)


def shapes(arrays: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in arrays.items()}


def nbytes(arrays: Mapping[str, np.ndarray]) -> int:
    """Payload bytes of a set of arrays (what one update or one broadcast weighs)."""
    return int(sum(np.asarray(v).nbytes for v in arrays.values()))


def full_model_bytes(model: nn.Module) -> int:
    """What sending every weight (frozen ones too) would weigh, at float32."""
    return int(sum(p.numel() for p in model.parameters()) * 4)


def subtract(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> Arrays:
    return {k: (a[k].astype(np.float32) - b[k].astype(np.float32)) for k in b}


def add(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> Arrays:
    return {k: (a[k].astype(np.float32) + b[k].astype(np.float32)) for k in a}


def to_record(arrays: Mapping[str, np.ndarray]) -> Any:
    """A Flower ArrayRecord holding `arrays` (names kept)."""
    from flwr.app import Array, ArrayRecord

    return ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in arrays.items()})


def from_record(record: Any) -> Arrays:
    """A Flower ArrayRecord back to named numpy arrays."""
    return {k: np.asarray(v.numpy()) for k, v in record.items()}


def record_bytes(record: Any) -> int:
    """Bytes of the serialised arrays in a Flower ArrayRecord (what went over the wire)."""
    return int(sum(len(v.data) for v in record.values()))
