"""export/exact_int8.py: the rewrite computes int8 products exactly (checked against numpy's
integer products where 16-bit pair sums overflow), and the saturation probe agrees with the
CPU's declared instructions."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from cotune.export.exact_int8 import exact_int8, int8_kernels_saturate


def run(model: object, feed: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(
        model.SerializeToString(),  # type: ignore[attr-defined]
        providers=["CPUExecutionProvider"],
    )
    return np.asarray(session.run(None, feed)[0])


def test_rewrite_equals_integer_products_with_zero_points() -> None:
    rng = np.random.default_rng(0)
    depth = 96
    weight = rng.integers(-128, 128, (depth, 5), dtype=np.int8)
    weight[:, 0] = 127  # with a = 255 these pairs overflow 16 bits in AVX2's kernels
    a = rng.integers(0, 256, (3, 4, depth), dtype=np.uint8)
    a[0, 0] = 255
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w", "a_zero", "w_zero"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [3, 4, depth])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [3, 4, 5])],
        [
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(np.array(17, np.uint8), "a_zero"),
            numpy_helper.from_array(np.array(-3, np.int8), "w_zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    exact = exact_int8(model)
    assert "MatMulInteger" not in {n.op_type for n in exact.graph.node}
    assert [n.op_type for n in model.graph.node] == ["MatMulInteger"]  # the input is untouched
    want = (a.astype(np.int64) - 17) @ (weight.astype(np.int64) + 3)
    got = run(exact, {"a": a})
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or not Path("/proc/cpuinfo").exists(),
    reason="reads x86 instruction flags from /proc/cpuinfo",
)
def test_probe_agrees_with_the_cpus_int8_dot_product_flags() -> None:
    flags = set(Path("/proc/cpuinfo").read_text().split())
    dot_product = bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
    assert int8_kernels_saturate() is not dot_product
