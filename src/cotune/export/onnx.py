"""Export `*ForTokenClassification` / `*ForSequenceClassification` models to ONNX and int8.

Why this shape: CPU serving runs on onnxruntime, int8 weights shrink the model, and an export is
only trusted after its logits are checked against PyTorch (`parity`). The TorchScript
exporter (`dynamo=False`) is tried first: for BERT it gives a graph with truly dynamic batch and
sequence axes and module names on its nodes; the dynamo exporter is the fallback for a torch that
no longer has it. Every file is written under a temporary name and renamed, so a failed export or
quantization never leaves a half-written model where a server could pick it up.
"""

from __future__ import annotations

import inspect
import logging
import re
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import torch
from torch import nn

from cotune.export.smooth import Smoothing, smooth
from cotune.files import atomic_path

__all__ = ["OnnxLogits", "export_onnx", "parity", "quantize_int8"]

_INPUT_ORDER = ("input_ids", "attention_mask", "token_type_ids")
_MIN_OPSET = 14  # scaled_dot_product_attention exports from opset 14 on
_PROBE_TEXTS = ["cotune export probe", "a somewhat longer second sentence to probe the exporter"]

# Defaults picked by measuring on the AVX2 CPU and on an AVX-512 VNNI Xeon; see quantize_int8.
DEFAULT_PER_CHANNEL = True
DEFAULT_REDUCE_RANGE = False
DEFAULT_FP32_LAYERS: tuple[int, ...] = (0,)
# encoder layer index in a node name, "/model/bert/encoder/layer.0/attention/..." (the TorchScript
# exporter names nodes by module path; the dynamo exporter's "node_MatMul_12" carries none)
_LAYER_INDEX = re.compile(r"/layer\.(\d+)/")


class _LogitsOnly(nn.Module):
    """Positional inputs in, logits out: the exporter needs a plain tensor signature."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra)
        logits: torch.Tensor = out.logits
        return logits


def _input_names(model: nn.Module, tokenizer: Any) -> list[str]:
    """input_ids, attention_mask, and token_type_ids when both the model and tokenizer use them."""
    accepted = inspect.signature(model.forward).parameters
    produced = set(getattr(tokenizer, "model_input_names", _INPUT_ORDER))
    names = [n for n in _INPUT_ORDER if n in accepted and (n != "token_type_ids" or n in produced)]
    if names[:2] != ["input_ids", "attention_mask"]:
        raise ValueError(f"{type(model).__name__}.forward must accept input_ids and attention_mask")
    return names


def export_onnx(
    model: nn.Module,
    tokenizer: Any,
    out_path: Path,
    opset: int = 17,
    *,
    exporter: Literal["auto", "torchscript", "dynamo"] = "auto",
) -> Path:
    """Export `model` to ONNX with dynamic batch and sequence axes and one output, `logits`.

    The probe batch comes from `tokenizer` (two sentences of different lengths, padded) so the
    traced graph sees real token ids and a real padding mask. `exporter="auto"` tries the
    TorchScript exporter and falls back to dynamo if it raises. The model's train/eval mode is
    restored afterwards.
    """
    newest = onnx.defs.onnx_opset_version()
    if not _MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"opset={opset} is outside {_MIN_OPSET}..{newest}: BERT attention needs opset >= "
            f"{_MIN_OPSET} and this onnx knows opsets up to {newest}; the default 17 works"
        )
    out_path = Path(out_path)
    names = _input_names(model, tokenizer)
    device = next(model.parameters()).device
    probe = tokenizer(_PROBE_TEXTS, padding=True, return_tensors="pt")
    args = tuple(probe[n].to(device) for n in names)
    was_training = model.training
    wrapper = _LogitsOnly(model).eval()  # eval, as the exporter restores the mode it found
    try:
        with torch.no_grad():
            token_level = wrapper(*args).dim() == 3
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
        axes["logits"] = {0: "batch", 1: "sequence"} if token_level else {0: "batch"}
        with atomic_path(out_path) as tmp:
            if exporter == "dynamo":
                _export_dynamo(wrapper, args, tmp, names, opset)
            else:
                try:
                    _export_torchscript(wrapper, args, tmp, names, axes, opset)
                except Exception as error:  # e.g. a torch without the legacy exporter
                    if exporter == "torchscript":
                        raise
                    warnings.warn(
                        f"TorchScript export failed ({error!r}); trying dynamo", stacklevel=2
                    )
                    _export_dynamo(wrapper, args, tmp, names, opset)
            onnx.checker.check_model(str(tmp))
    finally:
        model.train(was_training)
    return out_path


def _export_torchscript(
    wrapper: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    names: list[str],
    axes: dict[str, dict[int, str]],
    opset: int,
) -> None:
    with warnings.catch_warnings():
        # The legacy exporter's deprecation notice and the tracer's "treated as a constant" notes
        # (about shape checks that hold for every input) would only be noise to the user.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*aten::index.*")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            dynamo=False,
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
        )


def _export_dynamo(
    wrapper: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    names: list[str],
    opset: int,
) -> None:
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    shapes = {n: {0: batch, 1: sequence} for n in names}
    with warnings.catch_warnings():
        # Notes that the shared batch/sequence dims are named once, and pytree deprecations.
        warnings.filterwarnings("ignore", message=".*will not be used, since it shares.*")
        warnings.simplefilter("ignore", category=FutureWarning)
        program = torch.onnx.export(
            wrapper,
            args,
            dynamo=True,
            verbose=False,
            input_names=names,
            output_names=["logits"],
            dynamic_shapes=shapes,
            opset_version=opset,
        )
    if program is None:
        raise RuntimeError("torch.onnx.export(dynamo=True) returned no program")
    program.save(str(path), external_data=False)


def quantize_int8(
    onnx_path: Path,
    out_path: Path,
    *,
    per_channel: bool = DEFAULT_PER_CHANNEL,
    reduce_range: bool = DEFAULT_REDUCE_RANGE,
    quantize_embeddings: bool = False,
    fp32_layers: tuple[int, ...] = DEFAULT_FP32_LAYERS,
    fp32_nodes: list[str] | None = None,
    smoothing: Smoothing | None = None,
) -> Path:
    """Int8 dynamic quantization: MatMul weights to QInt8 per channel, activations quantized at
    run time; embedding tables (Gather) stay fp32 unless `quantize_embeddings`.

    `fp32_layers` keeps the Linear layers of those encoder layers in fp32 (default: the first);
    `fp32_nodes`, if given, names the MatMul nodes to keep instead. `smoothing` (calibrated
    maxima, export/smooth.py) first rescales the inputs of the MatMuls that will be int8 per
    channel, exactly in fp32. Why these defaults, and what each choice cost and bought on AVX2
    and VNNI CPUs: docs/benchmarks.md, section 7h (and 7b-7g). `cotune export` does not rely on
    one setting: it tries the graphs of export/pipeline.py's `INT8_LADDER` behind its gate.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = onnx.load(str(onnx_path))
    # Stale value_info from the dynamo exporter can contradict the quantizer's own shape
    # inference ("Inferred shape and existing shape differ"); it is re-inferred anyway.
    del proto.graph.value_info[:]
    keep = fp32_layer_matmuls(proto, fp32_layers) if fp32_nodes is None else fp32_nodes
    if fp32_nodes is None and fp32_layers and not keep:
        warnings.warn(
            f"{onnx_path}: no encoder layer index in the MatMul node names (a dynamo export?), "
            f"so layers {list(fp32_layers)} are quantized too; the export's quality gate still "
            "applies",
            stacklevel=2,
        )
    if smoothing is not None:
        proto = smooth(proto, smoothing, skip=keep)
    out_path = Path(out_path)
    root = logging.getLogger()
    root.addFilter(_skip_preprocess_advice)
    try:
        with atomic_path(out_path) as tmp:
            quantize_dynamic(
                proto,
                tmp,
                op_types_to_quantize=["MatMul", "Gather"] if quantize_embeddings else ["MatMul"],
                per_channel=per_channel,
                reduce_range=reduce_range,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=keep,
            )
    finally:
        root.removeFilter(_skip_preprocess_advice)
    return out_path


def encoder_layer_of(node_name: str) -> int | None:
    """The encoder layer a node belongs to, from its name; None if the name does not say."""
    found = _LAYER_INDEX.search(node_name)
    return int(found.group(1)) if found else None


def fp32_layer_matmuls(proto: onnx.ModelProto, layers: tuple[int, ...]) -> list[str]:
    """Names of the MatMul nodes that belong to encoder layers `layers` (by node name)."""
    wanted = set(layers)
    return [
        n.name
        for n in proto.graph.node
        if n.op_type == "MatMul" and encoder_layer_of(n.name) in wanted
    ]


def _skip_preprocess_advice(record: logging.LogRecord) -> bool:
    """Drop quantize_dynamic's root-logger advice to run pre-processing (measured: no effect)."""
    return "pre-processing before quantization" not in record.getMessage()


class OnnxLogits:
    """Logits from an ONNX classifier via onnxruntime on CPU, fed only the inputs it declares.

    `intra_op_num_threads` defaults to 1: on a shared 2-core machine one session per core
    (or a batching server) beats two sessions fighting over both cores. `exact_int8` runs an int8
    graph with exact int8 products, as a VNNI CPU computes them, whatever this CPU's kernels do
    (export/exact_int8.py); it is for measuring, not serving (float products are slower).
    """

    def __init__(
        self, onnx_path: str | Path, intra_op_num_threads: int = 1, *, exact_int8: bool = False
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_num_threads
        options.inter_op_num_threads = 1
        graph: str | bytes = str(onnx_path)
        if exact_int8:  # the int8 products as a VNNI CPU computes them (export/exact_int8.py)
            from cotune.export.exact_int8 import exact_int8 as rewrite

            graph = rewrite(onnx.load(str(onnx_path))).SerializeToString()
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        self.output_name = "logits" if "logits" in outputs else outputs[0]

    def __call__(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> np.ndarray:
        if token_type_ids is None:
            token_type_ids = np.zeros_like(input_ids)
        given = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
        }
        feeds = {n: np.asarray(given[n], dtype=np.int64) for n in self.input_names}
        (logits,) = self.session.run([self.output_name], feeds)
        return np.asarray(logits)


def parity(model: nn.Module, onnx_path: Path, batch: dict[str, torch.Tensor]) -> float:
    """Max |logits_torch - logits_onnx| on `batch`: the check every export must pass."""
    runner = OnnxLogits(onnx_path)
    names = [n for n in _INPUT_ORDER if n in batch]
    device, was_training = next(model.parameters()).device, model.training
    model.eval()
    try:
        with torch.no_grad():
            inputs = {n: batch[n].to(device) for n in names}
            expected = model(**inputs).logits.float().cpu().numpy()
    finally:
        model.train(was_training)
    arrays = {n: batch[n].cpu().numpy() for n in names}
    got = runner(arrays["input_ids"], arrays["attention_mask"], arrays.get("token_type_ids"))
    return float(np.abs(expected - got).max())
