"""Resumable checkpoints: weights, optimiser, schedule, RNG and loop position, written atomically.

A checkpoint holds everything that decides the rest of the run, so a resumed run ends with the
same weights and metrics as one that was never stopped.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cotune.files import staged_folder


def rng_state() -> dict[str, Any]:
    """RNG states as plain types and tensors, so checkpoints load with weights_only=True."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(np.asarray(keys).copy()), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])


def save_checkpoint(folder: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write `state` to folder/step-N via a temp folder + rename; prune all but `keep` newest."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:08d}"
    with staged_folder(final) as stage:
        torch.save(state, stage / "state.pt")
    for old in sorted(folder.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(p for p in folder.glob("step-*") if (p / "state.pt").exists())
    return found[-1] if found else None


def load_checkpoint(path: Path) -> dict[str, Any]:
    # weights_only: a checkpoint is tensors and plain types; nothing is unpickled as code.
    return torch.load(path / "state.pt", map_location="cpu", weights_only=True)
