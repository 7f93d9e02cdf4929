"""Per-channel smoothing of Linear inputs before int8 dynamic quantization (SmoothQuant).

Why: dynamic quantization gives each MatMul input one uint8 scale for the whole tensor, while its
weights get one int8 scale per output channel. In BERT the LayerNorm outputs that feed the
Linear layers carry a few channels far larger than the rest: in the MiniLM-L6 recipes the
largest channel of a layer's FFN input is 14x the median channel (28.6 vs 2.0, the same three
channels in every layer), so one scale spends most of its 256 steps on three of 384 channels and
rounds the others coarsely. SmoothQuant (Xiao et al., 2023) moves that spread into the weights:

    X W = (X diag(1/s)) (diag(s) W),    s_j = max|X_j| ** alpha / max|W_j,:| ** (1 - alpha)

which is exact in fp32 and leaves the activation's channels far more even. BERT is post-LN: a
LayerNorm's output is also the residual stream, so 1/s cannot be folded into the LayerNorm as in
pre-LN models; it is an explicit Mul, one per distinct MatMul input, shared by the MatMuls that
read it (query/key/value), and the weights are scaled in place.

Measured with the two shipped recipes trained on the GPU machine (whose all-int8 graphs lost
2.1 F1 / 1.5 accuracy on its VNNI CPU), int8 vs fp32 ONNX logits on dev, mean squared
difference with the int8 products computed exactly (as VNNI does): WNUT-16 0.0104 unsmoothed,
0.0307 at alpha 0.5, 0.0032 at 0.8; rt-polarity 0.0282, 0.0889, 0.0068. alpha 0.5, the paper's
default for OPT, is worse than none here (the weights' own outliers then dominate). Smoothed,
both graphs passed the gate there with every Linear int8 (docs/benchmarks.md, section 7e). The
Mul nodes cost about 10% of int8 speed, and on CPUs whose u8 x s8 kernels saturate in 16 bits
(AVX2 without VNNI) the larger weight rows can cost quality instead, so `cotune export` tries
the unsmoothed graph first (export/pipeline.py `INT8_LADDER`).

`max|X_j|` comes from calibration batches (the artifact's train split in `cotune export`), taken
over every position including padding, because the runtime's scale is too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from cotune.export.options import DEFAULT_ALPHA

__all__ = ["DEFAULT_ALPHA", "Smoothing", "input_absmax", "smooth", "weighted_matmuls"]

_SCALE_RANGE = (1e-5, 1e5)  # s outside it means a dead channel or a degenerate weight row


@dataclass(frozen=True)
class Smoothing:
    """Calibrated per-channel input maxima (MatMul input name -> max |x| per channel) and alpha."""

    absmax: Mapping[str, np.ndarray]
    alpha: float = DEFAULT_ALPHA


def weighted_matmuls(proto: onnx.ModelProto) -> list[onnx.NodeProto]:
    """MatMul nodes whose second input is a stored 2-D weight: the graph's Linear layers."""
    weights = {t.name for t in proto.graph.initializer if len(t.dims) == 2}
    return [n for n in proto.graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def input_absmax(
    proto: onnx.ModelProto, batches: Iterable[Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Max |x| per channel (last axis) of every Linear input, over all `batches` and positions.

    Runs `proto` with onnxruntime, the Linear inputs added as graph outputs. A batch lacking an
    input the graph declares (token_type_ids) gets zeros, as the task runner feeds it.
    """
    import onnxruntime as ort

    names = sorted({n.input[0] for n in weighted_matmuls(proto)})
    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    declared = {o.name for o in probe.graph.output}
    probe.graph.output.extend(helper.ValueInfoProto(name=n) for n in names if n not in declared)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    absmax: dict[str, np.ndarray] = {}
    for batch in batches:
        zeros = np.zeros_like(batch["input_ids"])
        feed = {i: np.asarray(batch.get(i, zeros), dtype=np.int64) for i in inputs}
        for name, value in zip(names, session.run(names, feed), strict=True):
            channel_max = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            absmax[name] = np.maximum(absmax.get(name, channel_max), channel_max)
    if not absmax:
        raise ValueError("no calibration batches: smoothing needs at least one")
    return absmax


def smooth(
    proto: onnx.ModelProto, smoothing: Smoothing, skip: Iterable[str] = ()
) -> onnx.ModelProto:
    """A copy of `proto` with every Linear input (but those of the MatMul nodes named in `skip`)
    divided per channel by s and the weights multiplied by it (module docstring)."""
    if not 0.0 < smoothing.alpha <= 1.0:
        raise ValueError(f"smoothing alpha must be in (0, 1], got {smoothing.alpha}")
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    graph = out.graph
    weights = {t.name: t for t in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    skipped = set(skip)
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in weighted_matmuls(out):
        if node.name not in skipped and node.input[0] in smoothing.absmax:
            readers.setdefault(node.input[0], []).append(node)

    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        source = str(node.input[0]) if node.op_type == "MatMul" else ""
        group = readers.pop(source, None)
        if group:  # the first reader of this input: the Mul goes right before it
            nodes.append(_smooth_group(graph, weights, uses, source, group, smoothing))
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return out


def _smooth_group(
    graph: onnx.GraphProto,
    weights: dict[str, onnx.TensorProto],
    uses: dict[str, int],
    source: str,
    group: list[onnx.NodeProto],
    smoothing: Smoothing,
) -> onnx.NodeProto:
    """Scale the weights of the MatMuls in `group` by s; return the Mul that divides `source`."""
    arrays = [numpy_helper.to_array(weights[n.input[1]]) for n in group]
    weight_max = np.max([np.abs(w).max(axis=1) for w in arrays], axis=0)
    input_max = np.asarray(smoothing.absmax[source], dtype=np.float64)
    alpha = smoothing.alpha
    live = (input_max > 0) & (weight_max > 0)
    scale = np.ones_like(input_max)
    scale[live] = input_max[live] ** alpha / weight_max[live] ** (1 - alpha)
    scale = np.clip(scale, *_SCALE_RANGE)
    smoothed = f"{source}/smoothed"
    inverse = numpy_helper.from_array((1.0 / scale).astype(np.float32), f"{smoothed}/inverse_scale")
    graph.initializer.append(inverse)
    for node, array in zip(group, arrays, strict=True):
        scaled = (array * scale[:, None]).astype(array.dtype)
        name = node.input[1]
        if uses.get(name, 0) > 1:  # a weight shared with another node keeps its original
            name = f"{name}/smoothed_for/{node.name or node.output[0]}"
            graph.initializer.append(numpy_helper.from_array(scaled, name))
        else:
            weights[name].CopyFrom(numpy_helper.from_array(scaled, name))
        node.input[0], node.input[1] = smoothed, name
    prefix = group[0].name.rsplit("/", 1)[0] if "/" in group[0].name else group[0].name
    return helper.make_node("Mul", [source, inverse.name], [smoothed], name=f"{prefix}/Smooth")
