"""Run an artifact's exported ONNX graph through cotune's own task code.

`OnnxTaskModel` quacks like the Hugging Face model that `Task.predict` expects (callable with
input_ids / attention_mask tensors, returns an object with `.logits`; `.eval()`, `.train()`,
`.training`), so windowing of long sentences, word alignment, span offsets and label decoding
are the very code the PyTorch model runs, not a second copy that could drift. `load_predictor`
is the one switch between the two that `cotune predict --onnx` and `cotune evaluate --onnx` use.

Where the graphs live in an artifact folder (written by `cotune export`, export/pipeline.py):

    ARTIFACT/onnx/model.onnx        fp32, dynamic batch and sequence axes, output "logits"
    ARTIFACT/onnx/model.int8.onnx   the same after int8 dynamic quantization
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch

from cotune.artifact import Predictor
from cotune.artifact.meta import ArtifactMeta
from cotune.config.schema import ModelConfig
from cotune.errors import ArtifactError, ConfigError
from cotune.export.exact_int8 import Int8Kernels
from cotune.export.exact_int8 import int8_kernels as check_kernels

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
OnnxPrecision = Literal["fp32", "int8"]
PRECISIONS: tuple[OnnxPrecision, ...] = ("fp32", "int8")


def onnx_file(folder: str | Path, *, int8: bool) -> Path:
    return Path(folder) / ONNX_DIR / (INT8_FILE if int8 else FP32_FILE)


@dataclass
class OnnxOutput:
    logits: torch.Tensor


class OnnxTaskModel:
    """An onnxruntime session in the shape of a `PreTrainedModel` for inference."""

    def __init__(
        self, path: str | Path, threads: int = 1, *, int8_kernels: Int8Kernels = "cpu"
    ) -> None:
        from cotune.export.onnx import OnnxLogits

        self.path = Path(path)
        self.runner = OnnxLogits(
            self.path, intra_op_num_threads=threads, exact_int8=int8_kernels == "exact"
        )
        self.training = False

    def parameters(self) -> Iterator[torch.Tensor]:
        """One CPU placeholder: task code reads the device of the first parameter to place its
        inputs, and onnxruntime (CPUExecutionProvider) takes them on the CPU."""
        yield torch.empty(0)

    def eval(self) -> OnnxTaskModel:
        return self.train(False)

    def train(self, mode: bool = True) -> OnnxTaskModel:
        if mode:
            raise RuntimeError(f"{self.path} is an inference graph: it cannot be trained")
        self.training = False
        return self

    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **_: Any,
    ) -> OnnxOutput:
        ids = input_ids.cpu().numpy()
        mask = attention_mask.cpu().numpy() if attention_mask is not None else np.ones_like(ids)
        types = token_type_ids.cpu().numpy() if token_type_ids is not None else None
        return OnnxOutput(torch.from_numpy(self.runner(ids, mask, types)))


def numpy_batches(
    task: Any, examples: Sequence[Any], size: int, *, by_length: bool = True
) -> list[dict[str, np.ndarray]]:
    """`examples` encoded by the task and padded per batch of `size`, as int64 arrays without
    labels (graph calibration and profiling). `by_length` sorts them first, as `task.predict`
    does; unsorted batches carry more padding, as a server's arrival-order batches do."""
    features = task.encode(examples, with_labels=False)
    if by_length:
        features = sorted(features, key=len)
    return [
        {
            k: v.numpy().astype(np.int64)
            for k, v in task.collate(features[i : i + size]).items()
            if k != "labels"
        }
        for i in range(0, len(features), size)
    ]


def load_onnx_predictor(
    folder: str | Path,
    *,
    int8: bool = True,
    threads: int = 1,
    instead: str = "serve with --backend torch",
    int8_kernels: Int8Kernels = "cpu",
) -> Predictor:
    """A `Predictor` over the artifact's ONNX graph; the PyTorch weights are not loaded.

    `instead`: the way round a missing graph that the error suggests, for the caller's users.
    `int8_kernels="exact"` runs the int8 graph with exact int8 products (export/exact_int8.py)."""
    from transformers import AutoTokenizer

    from cotune.tasks import build_task

    folder = Path(folder)
    meta = ArtifactMeta.read(folder)
    path = onnx_file(folder, int8=int8)
    if not path.exists():
        raise ArtifactError(
            f"{folder} has no exported {'int8 ' if int8 else ''}ONNX graph ({path} is missing)",
            where=str(folder),
            fix=f"export it first (`cotune export {folder} --format onnx"
            f"{' --quantize int8' if int8 else ''}`), or {instead}",
        )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    task = build_task(meta.task, meta.labels, tokenizer, ModelConfig(**meta.model_config))
    model = OnnxTaskModel(path, threads, int8_kernels=int8_kernels)
    return Predictor(folder, meta, task, model, tokenizer)


def load_predictor(
    folder: str | Path,
    onnx: str | None = None,
    *,
    threads: int | None = None,
    int8_kernels: str = "cpu",
) -> Predictor:
    """The artifact's PyTorch model, or with `onnx` ("fp32" / "int8") its exported graph.

    What `cotune predict` and `cotune evaluate` run; `threads` for onnxruntime defaults to
    torch's thread count, so both paths use the same cores. `int8_kernels="exact"` (int8 graph
    only) runs it with exact int8 products, as `cotune export --int8-kernels exact` gates it."""
    kernels = check_kernels(int8_kernels)
    if kernels == "exact" and onnx != "int8":
        raise ConfigError(
            "exact int8 kernels apply to the int8 graph only",
            where="--int8-kernels",
            fix="add --onnx int8, or leave --int8-kernels out",
        )
    if onnx is None:
        from cotune.artifact import load_artifact

        return load_artifact(folder)
    if onnx not in PRECISIONS:
        raise ConfigError(
            f"unknown ONNX precision {onnx!r}",
            where="--onnx",
            fix="use --onnx fp32 or --onnx int8, or leave --onnx out for the PyTorch model",
        )
    precision = cast(OnnxPrecision, onnx)
    return load_onnx_predictor(
        folder,
        int8=precision == "int8",
        threads=threads or torch.get_num_threads(),
        instead="leave --onnx out to run the PyTorch model",
        int8_kernels=kernels,
    )
