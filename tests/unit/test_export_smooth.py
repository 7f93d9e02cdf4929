"""Per-channel smoothing before int8 (export/smooth.py): exact in fp32, and it cuts the int8
error that outlier activation channels cause, on tiny BERT classifiers built in code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from transformers import BertForSequenceClassification, BertForTokenClassification, BertTokenizer

from cotune.export.onnx import OnnxLogits, export_onnx, quantize_int8
from cotune.export.smooth import Smoothing, input_absmax, smooth, weighted_matmuls
from tests.unit.helpers import random_batch, tiny_classifier, word_tokenizer

HEADS = [BertForTokenClassification, BertForSequenceClassification]


def outlier_classifier(head: type, factor: float = 40.0) -> torch.nn.Module:
    """A tiny classifier whose LayerNorm outputs carry three channels `factor` times the rest,
    as trained BERTs do (the Linear inputs' largest channel is 14x the median in MiniLM)."""
    model = tiny_classifier(head)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "LayerNorm.weight" in name:
                param[:3] *= factor
    return model


def feeds(count: int = 6, seed: int = 0) -> list[dict[str, np.ndarray]]:
    return [
        {k: v.numpy() for k, v in random_batch(4, 16, seed=seed + i).items()} for i in range(count)
    ]


def logits(path: Path, batches: list[dict[str, np.ndarray]], exact: bool = False) -> np.ndarray:
    runner = OnnxLogits(path, exact_int8=exact)
    return np.concatenate([runner(**batch) for batch in batches])


@pytest.fixture(scope="module")
def tokenizer() -> BertTokenizer:
    return word_tokenizer()


@pytest.mark.parametrize("head", HEADS)
def test_smoothing_is_exact_in_fp32(head: type, tokenizer: BertTokenizer, tmp_path: Path) -> None:
    fp32 = export_onnx(outlier_classifier(head), tokenizer, tmp_path / "model.onnx")
    proto = onnx.load(str(fp32))
    absmax = input_absmax(proto, feeds())
    smoothed = smooth(proto, Smoothing(absmax, 0.8))
    onnx.checker.check_model(smoothed)
    onnx.save(smoothed, str(tmp_path / "smoothed.onnx"))

    # one Mul per distinct Linear input, shared by the MatMuls reading it (query/key/value)
    inputs = {n.input[0] for n in weighted_matmuls(proto)}
    muls = [n for n in smoothed.graph.node if n.op_type == "Mul" and n.name.endswith("/Smooth")]
    assert len(muls) == len(inputs) == 4 * 2 + (head is BertForTokenClassification)
    assert all(n.input[0].endswith("/smoothed") for n in weighted_matmuls(smoothed))
    # the input really is rescaled: the outlier channels get the largest divisors
    inverse = {t.name: onnx.numpy_helper.to_array(t) for t in smoothed.graph.initializer}
    first = inverse[muls[0].input[1]]
    assert first[:3].max() < np.median(first[3:])

    held_out = feeds(seed=100)
    want, got = logits(fp32, held_out), logits(tmp_path / "smoothed.onnx", held_out)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_smoothing_cuts_the_int8_error_of_outlier_channels(
    tokenizer: BertTokenizer, tmp_path: Path
) -> None:
    """Judged with exact int8 products (export/exact_int8.py), as a VNNI CPU computes them: on an
    AVX2 CPU the kernels' 16-bit saturation adds an error of its own to both graphs."""
    fp32 = export_onnx(outlier_classifier(HEADS[0]), tokenizer, tmp_path / "model.onnx")
    smoothing = Smoothing(input_absmax(onnx.load(str(fp32)), feeds()), 0.8)
    plain = quantize_int8(fp32, tmp_path / "plain.onnx", fp32_layers=())
    smoothed = quantize_int8(fp32, tmp_path / "smooth.onnx", fp32_layers=(), smoothing=smoothing)
    held_out = feeds(seed=100)
    want = logits(fp32, held_out)

    def error(graph: Path) -> float:
        return float(np.mean((logits(graph, held_out, exact=True) - want) ** 2))

    assert error(smoothed) < 0.5 * error(plain), (error(smoothed), error(plain))


def test_layers_kept_in_fp32_are_not_smoothed(tokenizer: BertTokenizer, tmp_path: Path) -> None:
    fp32 = export_onnx(outlier_classifier(HEADS[0]), tokenizer, tmp_path / "model.onnx")
    smoothing = Smoothing(input_absmax(onnx.load(str(fp32)), feeds()), 0.8)
    int8 = onnx.load(str(quantize_int8(fp32, tmp_path / "q.onnx", smoothing=smoothing)))
    fp32_matmuls = weighted_matmuls(int8)  # layer 0's, kept in fp32 by default
    assert fp32_matmuls and all("/layer.0/" in n.name for n in fp32_matmuls)
    assert not any(n.input[0].endswith("/smoothed") for n in fp32_matmuls)
    smooth_muls = [n.name for n in int8.graph.node if n.name.endswith("/Smooth")]
    assert smooth_muls and not any("/layer.0/" in n for n in smooth_muls)


def test_alpha_outside_its_range_is_refused(tokenizer: BertTokenizer, tmp_path: Path) -> None:
    fp32 = export_onnx(tiny_classifier(HEADS[1]), tokenizer, tmp_path / "model.onnx")
    proto = onnx.load(str(fp32))
    with pytest.raises(ValueError, match="alpha"):
        smooth(proto, Smoothing(input_absmax(proto, feeds(1)), 1.5))


def test_a_weight_shared_by_two_inputs_is_copied_per_input(tmp_path: Path) -> None:
    """Two MatMuls reading different inputs through one stored weight: each gets its own scaled
    copy (one scale cannot serve both inputs) and the original stays for anything else."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "W")
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["y1"], name="first/MatMul"),
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "W"], ["y2"], name="second/MatMul"),
    ]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 8]) for n in ("x",)]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 4]) for n in ("y1", "y2")]
    graph = helper.make_graph(nodes, "shared", io, outs, initializer=[weight])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    x = rng.normal(size=(5, 8)).astype(np.float32)
    x[:, 2] *= 50  # an outlier channel
    absmax = {"x": np.abs(x).max(0), "r": np.maximum(x, 0).max(0)}
    smoothed = smooth(proto, Smoothing(absmax, 0.8))
    onnx.checker.check_model(smoothed)
    names = [t.name for t in smoothed.graph.initializer]
    assert len(names) == len(set(names)) and sum(n.startswith("W/smoothed") for n in names) == 2

    import onnxruntime as ort

    def run(model: onnx.ModelProto) -> list[np.ndarray]:
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        return [np.asarray(o) for o in session.run(["y1", "y2"], {"x": x})]

    for got, want in zip(run(smoothed), run(proto), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
