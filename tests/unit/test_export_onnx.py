"""ONNX export, int8 quantization and parity of tiny BERT classifiers, checked against PyTorch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from transformers import (
    BertForSequenceClassification,
    BertForTokenClassification,
    BertTokenizer,
    PreTrainedModel,
)
from typer.testing import CliRunner

from cotune.cli.main import app
from cotune.export.onnx import OnnxLogits, export_onnx, parity, quantize_int8
from cotune.export.pipeline import export_artifact
from cotune.recipes.finetune import finetune
from tests.unit.helpers import (
    CLS,
    NER,
    flat,
    random_batch,
    tiny_classifier,
    tiny_config,
    word_tokenizer,
)

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
HEADS = [BertForTokenClassification, BertForSequenceClassification]
# (batch, sequence) pairs different from the exporter's probe batch (2 x 14).
SHAPES = [(1, 2), (4, 9), (3, 64)]


@pytest.fixture(scope="module")
def tokenizer() -> BertTokenizer:
    return word_tokenizer()


def expected_shape(model: PreTrainedModel, batch: int, sequence: int) -> tuple[int, ...]:
    labels = model.config.num_labels
    assert labels is not None
    token_level = isinstance(model, BertForTokenClassification)
    return (batch, sequence, labels) if token_level else (batch, labels)


@pytest.mark.parametrize("head", HEADS)
def test_export_has_dynamic_inputs_and_matches_torch(
    head: type[PreTrainedModel], tokenizer: BertTokenizer, tmp_path: Path
) -> None:
    model = tiny_classifier(head)
    model.train()
    path = export_onnx(model, tokenizer, tmp_path / "model.onnx")
    assert model.training  # the caller's mode is restored
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary file left

    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == INPUTS
    assert [o.name for o in graph.output] == ["logits"]
    for value in graph.input:
        assert [d.dim_param for d in value.type.tensor_type.shape.dim] == ["batch", "sequence"]

    model.eval()
    runner = OnnxLogits(path)
    for batch, sequence in SHAPES:
        inputs = random_batch(batch, sequence)
        assert parity(model, path, inputs) < 1e-4
        arrays = [inputs[n].numpy() for n in INPUTS]
        assert runner(*arrays).shape == expected_shape(model, batch, sequence)


def test_token_types_really_reach_the_graph(tokenizer: BertTokenizer, tmp_path: Path) -> None:
    model = tiny_classifier(BertForSequenceClassification)
    runner = OnnxLogits(export_onnx(model, tokenizer, tmp_path / "model.onnx"))
    inputs = {k: v.numpy() for k, v in random_batch(2, 8).items()}
    with_types = runner(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
    without = runner(inputs["input_ids"], inputs["attention_mask"])  # zeros
    assert np.abs(with_types - without).max() > 1e-3


def test_model_without_token_types_gets_two_inputs(
    tokenizer: BertTokenizer, tmp_path: Path
) -> None:
    tokenizer = BertTokenizer(
        vocab=tokenizer.get_vocab(), model_input_names=["input_ids", "attention_mask"]
    )
    model = tiny_classifier(BertForTokenClassification)
    path = export_onnx(model, tokenizer, tmp_path / "model.onnx")
    runner = OnnxLogits(path)
    assert runner.input_names == ["input_ids", "attention_mask"]
    inputs = random_batch(3, 7)
    del inputs["token_type_ids"]
    assert parity(model, path, inputs) < 1e-4
    ids, mask = inputs["input_ids"].numpy(), inputs["attention_mask"].numpy()
    # token_type_ids are accepted by the wrapper but not fed to a graph that lacks them.
    np.testing.assert_array_equal(runner(ids, mask, np.ones_like(ids)), runner(ids, mask))


@pytest.mark.parametrize("head", HEADS)
def test_int8_model_runs_close_to_fp32(
    head: type[PreTrainedModel], tokenizer: BertTokenizer, tmp_path: Path
) -> None:
    model = tiny_classifier(head)
    fp32 = export_onnx(model, tokenizer, tmp_path / "model.onnx")
    int8 = quantize_int8(fp32, tmp_path / "model.int8.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.int8.onnx", "model.onnx"]

    # the first encoder layer's Linear layers stay fp32 (the default), every other one is int8
    assert float_weight_matmuls(int8) == [
        f"/model/bert/encoder/layer.0/{m}/MatMul"
        for m in (
            *("attention/self/query", "attention/self/key", "attention/self/value"),
            *("attention/output/dense", "intermediate/dense", "output/dense"),
        )
    ]
    all_int8 = quantize_int8(fp32, tmp_path / "all.int8.onnx", fp32_layers=())
    assert float_weight_matmuls(all_int8) == []
    assert any(n.op_type == "MatMulInteger" for n in onnx.load(str(int8)).graph.node)

    reference, quantized = OnnxLogits(fp32), OnnxLogits(int8)
    for batch, sequence in SHAPES:
        arrays = [v.numpy() for v in random_batch(batch, sequence).values()]
        got, want = quantized(*arrays), reference(*arrays)
        assert got.shape == expected_shape(model, batch, sequence)
        assert np.isfinite(got).all()
        # Quantization noise, not a broken graph: logits stay strongly correlated.
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.98


def float_weight_matmuls(path: Path) -> list[str]:
    """MatMul nodes left in fp32 whose second input is a weight (a Linear layer)."""
    graph = onnx.load(str(path)).graph
    weights = {t.name for t in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def test_failed_quantization_keeps_the_previous_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    out = tmp_path / "model.int8.onnx"
    out.write_bytes(b"previous good model")
    with pytest.raises(Exception):  # noqa: B017 - whatever onnx raises, nothing may change
        quantize_int8(broken, out)
    assert out.read_bytes() == b"previous good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.onnx", "model.int8.onnx"]


def test_dynamo_exporter_also_gives_dynamic_axes(tokenizer: BertTokenizer, tmp_path: Path) -> None:
    model = tiny_classifier(BertForSequenceClassification)
    path = export_onnx(model, tokenizer, tmp_path / "model.onnx", exporter="dynamo")
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # one file, no external data
    for batch, sequence in SHAPES[:2]:
        assert parity(model, path, random_batch(batch, sequence)) < 1e-4
    # its node names carry no module path, so no layer can be kept in fp32: said, not silent
    with pytest.warns(UserWarning, match="no encoder layer index"):
        int8 = quantize_int8(path, tmp_path / "model.int8.onnx")
    assert float_weight_matmuls(int8) == []
    quantized = OnnxLogits(int8)
    arrays = [v.numpy() for v in random_batch(2, 5).values()]
    assert quantized(*arrays).shape == (2, 5)


def test_unsupported_opset_is_refused(tokenizer: BertTokenizer, tmp_path: Path) -> None:
    model = tiny_classifier(BertForSequenceClassification)
    with pytest.raises(ValueError, match="opset=9"):
        export_onnx(model, tokenizer, tmp_path / "model.onnx", opset=9)
    assert list(tmp_path.iterdir()) == []


def test_runner_thread_count_is_configurable(tokenizer: BertTokenizer, tmp_path: Path) -> None:
    model = tiny_classifier(BertForSequenceClassification)
    path = export_onnx(model, tokenizer, tmp_path / "model.onnx")
    runner = OnnxLogits(path, intra_op_num_threads=2)
    assert runner.session.get_session_options().intra_op_num_threads == 2


# ------------------------------------------------------------------ `--onnx` in predict / evaluate


@pytest.fixture(scope="module")
def exported(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny trained NER and classification artifact, each with the fp32 and int8 graphs where
    `cotune export` puts them."""
    out = tmp_path_factory.mktemp("onnx-cli")
    folders = {
        task: finetune(tiny_config(tiny_backbone, out, task, epochs=4), progress=False)
        for task in ("ner", "cls")
    }
    for folder in folders.values():
        export_artifact(folder, quantize="int8", force=True)
    return folders


def cli_json(args: list[str]) -> dict[str, Any]:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout))


def decisions_and_scores(row: dict[str, Any]) -> tuple[dict[str, Any], list[float]]:
    """A prediction split into its decisions (labels, spans), which must agree exactly, and its
    scores, which may differ in the last float digits."""
    decisions = {k: v for k, v in row.items() if k != "scores"}
    scores = list(row.get("scores", {}).values())
    if "entities" in row:
        decisions["entities"] = [
            {k: v for k, v in e.items() if k != "score"} for e in row["entities"]
        ]
        scores += [e["score"] for e in row["entities"]]
    return decisions, scores


@pytest.mark.parametrize("task", ["ner", "cls"])
def test_evaluate_with_onnx_matches_torch(task: str, exported: dict[str, Path]) -> None:
    args = ["evaluate", str(exported[task]), "--data", str(NER if task == "ner" else CLS)]
    torch_metrics, onnx_metrics = cli_json(args), cli_json([*args, "--onnx", "fp32"])
    assert onnx_metrics.pop("onnx") == "fp32" and "onnx" not in torch_metrics
    assert set(onnx_metrics) == set(torch_metrics)
    scalars = [k for k, v in torch_metrics.items() if isinstance(v, float)]
    assert scalars and {k: onnx_metrics[k] for k in scalars} == pytest.approx(
        {k: torch_metrics[k] for k in scalars}, abs=1e-6
    )
    for key in set(torch_metrics) - set(scalars):  # per-type tables, confusion, counts
        assert onnx_metrics[key] == torch_metrics[key], key
    int8 = cli_json([*args, "--onnx", "int8"])  # quantized: runs, same report, its own numbers
    assert int8["onnx"] == "int8" and int8["int8_kernels"] == "cpu"
    assert set(int8) == set(torch_metrics) | {"onnx", "int8_kernels"}


@pytest.mark.parametrize("task", ["ner", "cls"])
def test_predict_with_onnx_writes_the_same_labels(
    task: str, exported: dict[str, Path], tmp_path: Path
) -> None:
    texts = ["john visited paris", "a great film", "mary works at acme in london", "awful"]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    rows = {}
    for name, extra in (("torch", []), ("onnx", ["--onnx", "fp32"])):
        out = tmp_path / f"{name}.jsonl"
        res = CliRunner().invoke(
            app, ["predict", str(exported[task]), str(inp), "-o", str(out), "-q", *extra]
        )
        assert res.exit_code == 0, res.output
        rows[name] = [
            decisions_and_scores(json.loads(line)) for line in out.read_text().splitlines()
        ]
    assert len(rows["torch"]) == len(texts)
    for (got, got_scores), (want, want_scores) in zip(rows["onnx"], rows["torch"], strict=True):
        assert got == want and got_scores == pytest.approx(want_scores, abs=1e-5)
    assert any(scores for _, scores in rows["torch"])  # something was scored
    one, _ = decisions_and_scores(
        cli_json(["predict", str(exported[task]), texts[0], "--onnx", "fp32"])
    )
    assert one == {k: v for k, v in rows["torch"][0][0].items() if k != "id"}


def test_onnx_option_errors_name_the_fix(exported: dict[str, Path], tmp_path: Path) -> None:
    bare = tmp_path / "bare"  # an artifact never exported
    shutil.copytree(exported["ner"], bare, ignore=shutil.ignore_patterns("onnx"))
    for args, wanted in (
        (["evaluate", str(bare), "--onnx", "fp32"], ["cotune export", "--format onnx", "--onnx"]),
        (["predict", str(bare), "hi there", "--onnx", "int8"], ["--quantize int8"]),
        (["evaluate", str(exported["ner"]), "--onnx", "fp16"], ["'fp16'", "--onnx int8"]),
    ):
        res = CliRunner().invoke(app, args)
        message = flat(res.output)
        assert res.exit_code == 2 and "Traceback" not in message, res.output
        assert all(w in message for w in wanted), message
