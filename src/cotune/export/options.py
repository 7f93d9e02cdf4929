"""`cotune export`'s options: one typed schema, light enough for the CLI to import at start-up
(the export itself pulls in onnx and onnxruntime)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cotune.config.section import Section

Int8Kernels = Literal["cpu", "exact"]
DEFAULT_MAX_DROP = 1.0  # points of F1 / accuracy
DEFAULT_ALPHA = 0.8  # SmoothQuant strength (docs/benchmarks.md, section 7e)


class ExportOptions(Section):
    """What `cotune export` does: its flags are these keys (`--max-drop` is `max_drop`), and
    the options an export ran with are recorded in metrics.json (`export.options`)."""

    format: Literal["onnx"] = Field("onnx", description="Export format.")
    quantize: Literal["int8"] | None = Field(
        None, description="int8: also write a dynamically quantized graph."
    )
    max_drop: float = Field(
        DEFAULT_MAX_DROP, description="Largest dev drop allowed, in points (F1 / accuracy)."
    )
    force: bool = Field(
        False, description="Write a graph the gate refuses (the drop goes into the card)."
    )
    opset: int = Field(17, ge=7, description="ONNX opset.")
    smooth_alpha: float = Field(
        DEFAULT_ALPHA,
        ge=0,
        le=1,
        description="int8: SmoothQuant strength of the smoothed rungs; 0 leaves them out.",
    )
    int8_kernels: Int8Kernels = Field(
        "cpu",
        description="int8: the products the gate runs, this CPU's kernels (cpu) or exact ones "
        "(exact), as VNNI, AMX and Arm dot-product CPUs compute them.",
    )
    batch_size: int = Field(64, ge=1, description="Batch size of the gate's evaluation.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where the PyTorch reference runs when the artifact records no dev figure "
        "(auto: a CUDA GPU when visible); tracing and the ONNX graphs stay on the CPU.",
    )
