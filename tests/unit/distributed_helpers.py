"""Run a recipe as N gloo processes on this machine, the way torchrun would start them.

Each process gets torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) and
runs the recipes one after the other; what it saw (its weights after every step, its RNG states, an error it
raised) comes back as a JSON-able record per rank.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import socket
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.multiprocessing as tmp

from cotune.training.loop import TrainState


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def digest(obj: Any) -> str:
    return hashlib.sha256(pickle.dumps(obj)).hexdigest()[:16]


class Probe:
    """Records, after every optimizer step, a digest of the trainable weights and of the RNG
    states, so that ranks can be compared step by step."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.crash_at = crash_at
        self.steps: list[dict[str, Any]] = []

    def on_step_end(self, state: TrainState, model: torch.nn.Module) -> None:
        weights = [
            p.detach().cpu().numpy().tobytes() for p in model.parameters() if p.requires_grad
        ]
        self.steps.append(
            {
                "step": state.step,
                "weights": digest(weights),
                "python_rng": digest(random.getstate()),
                "numpy_rng": digest(np.random.get_state()[1].tolist()),
                "torch_rng": digest(torch.get_rng_state().tolist()),
            }
        )
        if self.crash_at is not None and state.step == self.crash_at:
            raise KeyboardInterrupt("killed")  # what a kill looks like to the recipe


def _rank(rank: int, world: int, port: int, jobs: list[dict[str, Any]], results: str) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        COTUNE_TRACKING="none",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    torch.set_num_threads(1)
    from cotune.training import distributed

    records = []
    for job in jobs:  # one process group for all: starting Python + torch is the slow part
        probe = Probe(job.get("crash_at"))
        record: dict[str, Any] = {"rank": rank, "error": None}
        try:
            record["out"] = str(run_job(job, probe))
        except KeyboardInterrupt:
            record["error"] = "killed"
        except Exception as e:  # the test reads it
            record["error"] = f"{type(e).__name__}: {e}"
            record["traceback"] = traceback.format_exc()
        record["steps"] = probe.steps
        records.append(record)
    Path(results, f"rank{rank}.pkl").write_bytes(pickle.dumps(records))
    distributed.shutdown()


def run_job(job: dict[str, Any], probe: Probe) -> Path:
    kind = job["kind"]
    if kind == "finetune":
        from cotune.config.schema import RunConfig
        from cotune.recipes.finetune import finetune

        cfg = RunConfig.model_validate(job["config"])
        return finetune(cfg, resume=job.get("resume", False), progress=False, callbacks=[probe])
    if kind == "distill":
        from cotune.distill.config import DistillConfig
        from cotune.recipes.distill import distill

        return distill(
            DistillConfig.model_validate(job["config"]), progress=False, callbacks=[probe]
        )
    raise ValueError(kind)


def run_ranks(world: int, jobs: list[dict[str, Any]], results: Path) -> list[list[dict[str, Any]]]:
    """Start `world` processes that run `jobs` one after the other; returns, per job, each
    rank's record in rank order."""
    results.mkdir(parents=True, exist_ok=True)
    for old in results.glob("rank*.pkl"):
        old.unlink()
    tmp.start_processes(
        _rank,
        args=(world, free_port(), jobs, str(results)),
        nprocs=world,
        join=True,
        start_method="spawn",
    )
    by_rank = [pickle.loads((results / f"rank{r}.pkl").read_bytes()) for r in range(world)]
    return [[by_rank[r][j] for r in range(world)] for j in range(len(jobs))]
