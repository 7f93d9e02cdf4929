"""`cotune predict`'s options: one typed schema whose keys are the flags, light enough for the
CLI to import at start-up (prediction itself loads torch and transformers)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cotune.config.section import Section


class PredictOptions(Section):
    batch_size: int = Field(32, ge=1, description="Texts per forward pass.")
    top_k: int | None = Field(None, ge=1, description="Classification: only the k best labels.")
    onnx: Literal["fp32", "int8"] | None = Field(
        None, description="fp32 or int8: run the ONNX graph from `cotune export` instead."
    )
    quiet: bool = Field(False, description="No progress bar.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where the PyTorch model runs: auto takes a CUDA GPU when visible."
    )
