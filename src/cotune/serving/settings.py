"""Server settings: one typed object for the CLI flags, the app factory and the tests.

The defaults are the safe ones: loopback only, bounded bodies, texts and characters, a timeout on
every prediction, and a bounded queue, so that no single client can take the service down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BackendKind = Literal["torch", "onnx", "onnx-int8"]


def default_threads() -> int:
    """All usable cores but one, which the event loop keeps for HTTP and JSON.

    Measured on the shared 2-core box while other jobs ran, tiny test model: one tweet's
    prediction took 17 ms with 1 inference thread and 350 ms with 2, the OpenMP workers spinning
    against everything else that wanted the same two cores.
    """
    try:
        cores = len(os.sched_getaffinity(0))  # what this process may use, not the host's count
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        "127.0.0.1", description="Interface to bind; 0.0.0.0 exposes the service to the network."
    )
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0: any free port).")
    backend: BackendKind = Field(
        "torch", description="Inference engine: torch, onnx (fp32) or onnx-int8."
    )
    threads: int = Field(
        default_factory=lambda: default_threads(),
        ge=1,
        description="Intra-op threads of each model's inference (default: all cores but one).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where torch models run: auto takes a CUDA GPU when visible (ONNX backends "
        "run on the CPU).",
    )
    max_batch: int = Field(32, ge=1, description="Most texts run through a model at once.")
    max_wait_ms: float = Field(
        5.0,
        ge=0,
        description="Longest a text waits for others to join its batch before it runs anyway.",
    )
    max_queue: int = Field(
        1024, ge=1, description="Texts waiting per model before new requests get 503."
    )
    max_body_bytes: int = Field(1_000_000, ge=1, description="Largest request body (413 above).")
    max_texts: int = Field(64, ge=1, description="Most texts in one request (413 above).")
    max_chars: int = Field(10_000, ge=1, description="Most characters in one text (413 above).")
    timeout_s: float = Field(
        30.0,
        gt=0,
        description="Longest a prediction may take before the request gets 504, and the "
        "longest the request body may take to arrive before it gets 408.",
    )
    max_connections: int = Field(
        512, ge=1, description="Concurrent connections before uvicorn answers 503."
    )
    api_keys_env: str | None = Field(
        None, description="Environment variable holding API keys (comma or newline separated)."
    )
    api_keys_file: Path | None = Field(
        None, description="File holding API keys, one per line (# comments allowed)."
    )

    @property
    def auth_configured(self) -> bool:
        return bool(self.api_keys_env or self.api_keys_file)
