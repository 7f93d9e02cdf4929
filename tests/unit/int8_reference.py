"""A reference for int8 dynamic quantization that does not depend on the CPU's int8 kernels.

onnxruntime's u8 x s8 products on a CPU without int8 dot-product instructions (AVX2) pass
through 16-bit sums that can saturate, so the same int8 graph gives different logits there and
on a VNNI CPU. `exact_int8` rewrites every MatMulInteger of a quantized graph into float
products of the same integer values (exact: |products| < 2^24 at these widths), which is what
a VNNI CPU computes. Tests compare quantization schemes with it, not with the test machine's
kernels.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper


def exact_int8(src: Path, dst: Path) -> Path:
    proto = onnx.load(str(src))
    nodes: list[onnx.NodeProto] = []
    for node in proto.graph.node:
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
        nodes.append(helper.make_node("MatMul", operands, [node.output[0]]))
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    del proto.graph.value_info[:]
    onnx.save(proto, str(dst))
    return dst
