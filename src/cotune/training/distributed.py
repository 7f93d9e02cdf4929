"""Data-parallel training on torchrun: the process group, each rank's share of a step, and the
gradient all-reduce that makes N processes compute what one process with the whole batch does.

torchrun (or accelerate, or `cotune train --nproc N`) starts N copies of the same command and
tells each its place through the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).
`setup` joins that group: gloo on CPUs, NCCL on GPUs, one GPU per local rank. Without those
variables nothing changes: one process, no process group, the loop's single-process path.

How a step is shared: the batch plan is global and identical on every rank (seeded, no RNG
state), so the config's `train.batch_size` x `train.grad_accum` is the global batch whatever the
number of processes. Each rank takes a contiguous 1/N of every micro-batch (`shard`); with
length grouping a micro-batch is already sorted by length, so each share stays tight. Losses
are sums divided by the labelled units of the whole global step (summed over ranks), and the
gradients are summed over ranks once per optimizer step (`sync_gradients`): the same gradient
as one process taking the whole step, so clipping, AdamW and the schedule run identically on
every rank and the weights stay equal without being sent again.

Why not wrap the model in torch's DistributedDataParallel: a rank whose share of a step is
empty (the epoch's last, short micro-batch) would then have to run a dummy backward, the
methods whose trainable parameters see no gradient on some steps need
`find_unused_parameters`, and the wrapper renames every parameter (`module.`). One bucketed
all-reduce per optimizer step is what DDP does under gradient accumulation (`no_sync` on all
but the last micro-batch); what it forgoes is overlapping that last backward with the
communication.
"""

from __future__ import annotations

import atexit
import datetime as dt
import io
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from cotune.errors import ConfigError

T = TypeVar("T")
# a rank waits this long for the others (rank 0 evaluating on dev, writing a checkpoint)
TIMEOUT_MINUTES = float(os.environ.get("COTUNE_DIST_TIMEOUT_MIN", "60"))
BUCKET_BYTES = 32 * 1024 * 1024  # gradients are all-reduced in flat buckets of about this size


@dataclass(frozen=True)
class World:
    """This process's place among the data-parallel processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    # where tensors for collectives live: NCCL needs them on this rank's GPU
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the artifact, checkpoints and tracking."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def pick_device(name: str, *, where: str = "train.device", local_rank: int = 0) -> torch.device:
    """`auto`, `cpu` or `cuda` as a device; under torchrun each local rank gets its own GPU."""
    if name not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}", where=where, fix="use auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{where} is cuda but no CUDA GPU is visible", where=where, fix="use auto or cpu"
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"local rank {local_rank} has no GPU: {torch.cuda.device_count()} visible",
            where="--nproc / torchrun --nproc-per-node",
            fix="start at most one process per GPU, or train on the CPU (train.device: cpu)",
        )
    return torch.device("cuda", local_rank)


def setup(device: str, *, where: str = "train.device") -> tuple[World, torch.device]:
    """Join torchrun's process group if this process was launched by it; returns this rank's
    place and the device it trains on. Safe to call again (the group is joined once)."""
    rank = int(os.environ.get("RANK", "0"))
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    train_on = pick_device(device, where=where, local_rank=local_rank)
    if size <= 1:
        return World(), train_on
    if train_on.type == "cuda":
        torch.cuda.set_device(train_on)
    if not dist.is_initialized():
        backend = "nccl" if train_on.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=dt.timedelta(minutes=TIMEOUT_MINUTES))
        atexit.register(shutdown)
    return World(rank, size, local_rank, train_on), train_on


def current() -> World:
    """The process group this process is in (one process when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    backend = dist.get_backend()
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if backend == "nccl"
        else torch.device("cpu")
    )
    return World(
        dist.get_rank(),
        dist.get_world_size(),
        int(os.environ.get("LOCAL_RANK", "0")),
        device,
    )


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(batch: Sequence[int], world: World) -> list[int]:
    """This rank's contiguous share of one global micro-batch (sizes differ by at most one;
    a share may be empty when the micro-batch holds fewer examples than there are ranks)."""
    n = len(batch)
    return list(batch[world.rank * n // world.size : (world.rank + 1) * n // world.size])


def barrier(world: World) -> None:
    if world.enabled:
        dist.barrier()


def all_sum(values: Sequence[float], world: World) -> list[float]:
    """Element-wise sum over ranks (identity for one process)."""
    if not world.enabled:
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64, device=world.device)
    dist.all_reduce(t)
    return [float(v) for v in t.tolist()]


def broadcast(obj: T, world: World) -> T:
    """Rank 0's `obj` on every rank (any object torch.save takes: tensors, state dicts)."""
    if not world.enabled:
        return obj
    box: list[Any] = [_pack(obj) if world.is_main else None]
    dist.broadcast_object_list(box, src=0, device=world.device)
    return _unpack(box[0])


def gather(obj: T, world: World) -> list[T]:
    """Every rank's `obj`, in rank order, on every rank."""
    if not world.enabled:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, _pack(obj))
    return [_unpack(b) for b in out]


def _pack(obj: Any) -> bytes:
    # through torch.save: collectives pickle tensors by their storages, which torch 2.13
    # fails to load back on the receiving rank ('UntypedStorage' has no attribute 'dtype')
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _unpack(payload: bytes) -> Any:
    # sent by our own rank 0 of this very run: a trusted payload, may hold any object
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)


class MainSetup:
    """Rank 0 sets the run up alone (the output folder, the tracked run) while the other ranks
    wait at `wait()`; `done(error)` releases them, and a refusal on rank 0 ('already holds a
    run') stops them with the same message instead of leaving them waiting for a partner."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.sent = False

    def done(self, error: BaseException | None = None) -> None:
        if self.sent or not self.world.enabled or not self.world.is_main:
            return
        self.sent = True
        broadcast(None if error is None else f"{type(error).__name__}: {error}", self.world)

    def wait(self) -> None:
        message = broadcast(None, self.world)
        if message is not None:
            raise ConfigError(f"rank 0 stopped at set-up: {message}")


def broadcast_parameters(model: nn.Module, world: World) -> None:
    """Rank 0's weights and buffers on every rank: a head initialised differently elsewhere (or
    a backbone file read differently) would otherwise train a different model per rank."""
    if not world.enabled:
        return
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src=0)


def sync_gradients(params: Sequence[nn.Parameter], world: World) -> None:
    """Sum the gradients of `params` over ranks, in flat buckets.

    A parameter that no rank gave a gradient this step keeps `grad is None`, as in one process
    (AdamW then leaves it alone: no decay, no moment update); one that some rank did not touch
    (its share was empty) counts as zero there."""
    if not world.enabled:
        return
    had = torch.tensor(
        [0.0 if p.grad is None else 1.0 for p in params], dtype=torch.float32, device=world.device
    )
    dist.all_reduce(had)
    live = [p for p, h in zip(params, had.tolist(), strict=True) if h > 0]
    for p in live:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    for bucket in _buckets(live):
        flat = torch.cat([p.grad.reshape(-1) for p in bucket])  # type: ignore[union-attr]
        dist.all_reduce(flat)
        offset = 0
        for p in bucket:
            n = p.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p))  # type: ignore[union-attr]
            offset += n


def _buckets(params: Sequence[nn.Parameter]) -> Iterator[list[nn.Parameter]]:
    bucket: list[nn.Parameter] = []
    size = 0
    for p in params:
        grad = p.grad
        assert grad is not None
        if bucket and (
            size + grad.numel() * grad.element_size() > BUCKET_BYTES
            or grad.dtype != bucket[0].grad.dtype  # type: ignore[union-attr]
        ):
            yield bucket
            bucket, size = [], 0
        bucket.append(p)
        size += grad.numel() * grad.element_size()
    if bucket:
        yield bucket


def refuse_dp(world: World, dp_enabled: bool) -> None:
    """DP-SGD is refused under data parallelism, with the reason."""
    if world.enabled and dp_enabled:
        raise ConfigError(
            "DP-SGD does not run under data-parallel training here: its privacy accounting "
            "assumes one Poisson-sampled batch per step with per-example clipping and one noise "
            "draw, and splitting that step over processes would need Opacus's DPDDP with a "
            "distributed Poisson sampler and noise added once (on one rank), which this loop "
            "does not do",
            where="privacy.dp",
            fix="train DP-SGD in one process (leave out --nproc / torchrun), or drop privacy.dp",
        )


@contextmanager
def main_first(world: World) -> Iterator[None]:
    """Rank 0 runs the block first (reading a cache, writing a file), then the others do."""
    if not world.is_main:
        barrier(world)
    yield
    if world.is_main:
        barrier(world)
