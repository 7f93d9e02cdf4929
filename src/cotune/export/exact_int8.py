"""Exact int8 products, whatever the CPU: the int8 graph as a CPU with dot-product instructions
runs it.

onnxruntime's u8 x s8 integer products on an x86 CPU without VNNI (AVX2, AVX-512 without VNNI)
add pairs of products in 16 bits, which saturate: 255 x 127 + 255 x 127 = 64,770 > 32,767. CPUs
with int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI, AMX, Arm's dot product) accumulate
in 32 bits and do not. So one int8 graph scores differently on the two kinds of CPU: on the
project's AVX2 CPU, smoothed graphs lost a point that they did not lose on a VNNI Xeon
(docs/benchmarks.md, section 7e).

`exact_int8` rewrites every MatMulInteger of a quantized graph into a float MatMul of the same
integer values (zero points subtracted), which onnxruntime computes with its fp32 GEMM on any
CPU. The activations are still quantized by the runtime's own DynamicQuantizeLinear, so only the
accumulation changes. Float sums of integers are exact below 2^24; at MiniLM's widths typical
sums stay well below it, and past it the rounding is a relative 6e-8, far under int8's own
error. The rewritten graph is for measuring (the export gate with `int8_kernels="exact"`,
bench/int8_fidelity.py); the graph written and served is the quantized one.

`int8_kernels_saturate()` asks this CPU's onnxruntime directly, with one MatMulInteger whose
pairs overflow 16 bits.
"""

from __future__ import annotations

from functools import cache
from typing import cast

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cotune.errors import ConfigError
from cotune.export.options import Int8Kernels

__all__ = [
    "INT8_KERNELS",
    "Int8Kernels",
    "exact_int8",
    "int8_kernels",
    "int8_kernels_saturate",
]

INT8_KERNELS: tuple[Int8Kernels, ...] = ("cpu", "exact")


def int8_kernels(value: str) -> Int8Kernels:
    """`value` as an `--int8-kernels` choice, or a ConfigError naming the choices."""
    if value not in INT8_KERNELS:
        raise ConfigError(
            f"unknown --int8-kernels {value!r}",
            where="--int8-kernels",
            fix="use --int8-kernels cpu (this CPU's kernels) or exact (as a VNNI CPU computes)",
        )
    return cast(Int8Kernels, value)


def exact_int8(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `proto` whose MatMulInteger nodes are float MatMuls of the same integers."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    nodes: list[onnx.NodeProto] = []
    for node in out.graph.node:
        if node.op_type != "MatMulInteger":
            nodes.append(node)
            continue
        prefix = node.name or node.output[0]
        operands = []
        zero_points = [*node.input[2:4], "", ""][:2]  # optional inputs 3 and 4
        for side, (value, zero) in enumerate(zip(node.input[:2], zero_points, strict=True)):
            as_float = f"{prefix}/exact{side}"
            nodes.append(helper.make_node("Cast", [value], [as_float], to=TensorProto.FLOAT))
            if zero:
                nodes.append(
                    helper.make_node("Cast", [zero], [f"{as_float}_zp"], to=TensorProto.FLOAT)
                )
                nodes.append(
                    helper.make_node("Sub", [as_float, f"{as_float}_zp"], [f"{as_float}_c"])
                )
                as_float = f"{as_float}_c"
            operands.append(as_float)
        # back to MatMulInteger's int32, the type its consumers (a Cast to float) were given
        nodes.append(helper.make_node("MatMul", operands, [f"{prefix}/exact"]))
        nodes.append(
            helper.make_node("Cast", [f"{prefix}/exact"], [node.output[0]], to=TensorProto.INT32)
        )
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    del out.graph.value_info[:]  # the rewritten tensors' types are inferred again
    return out


@cache
def int8_kernels_saturate() -> bool:
    """Whether this CPU's onnxruntime u8 x s8 products saturate (16-bit pair sums: no VNNI)."""
    import onnxruntime as ort

    depth = 64
    weight = numpy_helper.from_array(np.full((depth, 2), 127, np.int8), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w"], ["y"])],
        "saturation_probe",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, depth])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 2])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"a": np.full((1, depth), 255, np.uint8)})[0]
    return bool((got != depth * 255 * 127).any())
