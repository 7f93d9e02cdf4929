"""`cotune export`: ONNX + int8 of a tiny trained artifact, parity, ONNX predict/evaluate agreeing
with PyTorch, and the quality gate refusing a deliberately broken export (unless --force)."""

from __future__ import annotations

import json
import shutil
from dataclasses import astuple
from pathlib import Path

import onnx
import pytest
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from cotune.artifact import load_artifact
from cotune.artifact.meta import ArtifactMeta
from cotune.cli.main import app
from cotune.errors import ArtifactError
from cotune.export.exact_int8 import exact_int8, int8_kernels_saturate
from cotune.export.gate import dev_examples, onnx_metrics
from cotune.export.pipeline import export_artifact
from cotune.export.runtime import load_onnx_predictor, onnx_file
from cotune.recipes.finetune import finetune
from tests.unit.helpers import flat, tiny_config


@pytest.fixture(scope="module")
def trained(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("export")
    return {
        task: finetune(tiny_config(tiny_backbone, out, task, epochs=8), progress=False)
        for task in ("ner", "cls")
    }


def fresh_copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("task", ["ner", "cls"])
def test_export_int8_parity_and_onnx_predictions_agree(
    task: str, trained: dict[str, Path], tmp_path: Path
) -> None:
    folder = fresh_copy(trained[task], tmp_path)
    report = export_artifact(folder, quantize="int8", max_drop=100.0)
    assert onnx_file(folder, int8=False).exists() and onnx_file(folder, int8=True).exists()
    assert report.parity_fp32 < 1e-4
    assert report.parity_int8 is not None
    assert not list((folder / "onnx").glob(".staging-*"))
    torch_p, onnx_p = load_artifact(folder), load_onnx_predictor(folder, int8=False)
    dev = dev_examples(torch_p)
    # same decisions (tags / labels); scores agree to float precision
    decisions = [astuple(p)[0] for p in onnx_p.predict(dev)]
    assert decisions == [astuple(p)[0] for p in torch_p.predict(dev)]
    got, want = onnx_p.evaluate(dev), torch_p.evaluate(dev)
    scalars = [k for k, v in want.items() if isinstance(v, float)]
    assert scalars and {k: got[k] for k in scalars} == pytest.approx({k: want[k] for k in scalars})
    fp32_gate = report.gates[0]
    assert fp32_gate.graph == "fp32" and fp32_gate.drop_points == pytest.approx(0.0, abs=1e-6)
    meta = ArtifactMeta.read(folder)
    assert meta.extra["export"]["files"] == ["onnx/model.onnx", "onnx/model.int8.onnx"]
    assert json.loads((folder / "metrics.json").read_text())["export"]["forced"] is False
    assert "## ONNX export" in (folder / "README.md").read_text()


def break_weights(folder: Path) -> None:
    """Flip the sign of the classifier: every token now gets its least likely tag."""
    path = folder / "model.safetensors"
    weights = load_file(path)
    for name in ("classifier.weight", "classifier.bias"):
        weights[name] = -weights[name]
    save_file(weights, path, metadata={"format": "pt"})


def test_gate_refuses_a_broken_export_and_force_records_the_drop(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    folder = fresh_copy(trained["ner"], tmp_path)
    recorded = json.loads((folder / "metrics.json").read_text())["dev"]["f1"]
    assert recorded > 0.1, "the tiny tagger must have learnt something for this test"
    break_weights(folder)
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(folder), "--format", "onnx"])
    assert result.exit_code == 2, result.output
    message = flat(result.output)
    assert "nothing was written" in message and "allowed: 1" in message
    assert not (folder / "onnx" / "model.onnx").exists()

    forced = runner.invoke(app, ["export", str(folder), "--format", "onnx", "--force"])
    assert forced.exit_code == 0, forced.output
    assert (folder / "onnx" / "model.onnx").exists()
    gate = ArtifactMeta.read(folder).extra["export"]["gate"][0]
    assert gate["passed"] is False and gate["reference"] == recorded
    assert gate["drop_points"] > 1
    # the refusal named both figures: the PyTorch artifact's and the broken export's
    assert f"f1 {gate['exported']:.4f}" in message and f"PyTorch artifact {recorded:.4f}" in message
    card = (folder / "README.md").read_text()
    assert "forced past the quality gate" in card and f"drop {gate['drop_points']:.2f}" in card


def fp32_weight_matmuls(graph: Path) -> int:
    """MatMul nodes of `graph` that still multiply by a stored fp32 weight."""
    proto = onnx.load(str(graph))
    weights = {t.name for t in proto.graph.initializer}
    return sum(1 for n in proto.graph.node if n.op_type == "MatMul" and n.input[1] in weights)


def smooth_muls(graph: Path) -> int:
    """The per-channel smoothing multiplies export/smooth.py put before int8 MatMuls."""
    return sum(1 for n in onnx.load(str(graph)).graph.node if n.name.endswith("/Smooth"))


def test_int8_keeps_the_fastest_graph_that_passes(trained: dict[str, Path], tmp_path: Path) -> None:
    folder = fresh_copy(trained["cls"], tmp_path)
    report = export_artifact(folder, quantize="int8", max_drop=100.0)
    # the first rung, every Linear int8 unsmoothed, passes a 100-point gate: nothing else is tried
    assert [(t["fp32_layers"], t["smoothed"]) for t in report.int8_tried] == [([], False)]
    assert report.int8_tried[0]["kept"] and report.int8_tried[0]["passed"]
    assert fp32_weight_matmuls(onnx_file(folder, int8=True)) == 0
    assert fp32_weight_matmuls(onnx_file(folder, int8=False)) > 0
    assert "int8 encoder layers kept in fp32: none" in (folder / "README.md").read_text()
    assert smooth_muls(onnx_file(folder, int8=True)) == 0
    assert "smoothed per channel (SmoothQuant): no" in (folder / "README.md").read_text()


def test_smoothing_can_be_turned_off_and_bad_alpha_is_named(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    folder = fresh_copy(trained["cls"], tmp_path)
    # without smoothing the ladder is every Linear int8, then layer 0 in fp32
    report = export_artifact(folder, quantize="int8", max_drop=-100.0, force=True, smooth_alpha=0)
    rungs = [(t["fp32_layers"], t["smoothed"]) for t in report.int8_tried]
    assert rungs == [([], False), ([0], False)]
    assert report.smooth_alpha is None and smooth_muls(onnx_file(folder, int8=True)) == 0
    assert ArtifactMeta.read(folder).extra["export"]["int8_smooth_alpha"] is None

    before = onnx_file(folder, int8=True).read_bytes()
    args = ["export", str(folder), "--quantize", "int8", "--smooth-alpha", "1.5"]
    result = CliRunner().invoke(app, args)
    assert (
        result.exit_code == 2
        and "--smooth-alpha: Input should be less than or equal to 1 (got 1.5)"
        in flat(result.output)
    )
    assert onnx_file(folder, int8=True).read_bytes() == before


def test_int8_tries_each_rung_and_force_keeps_the_smallest_drop(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    folder = fresh_copy(trained["ner"], tmp_path)
    # a gate nothing can pass: every rung is tried and named in the refusal
    with pytest.raises(ArtifactError) as refused:
        export_artifact(folder, quantize="int8", max_drop=-100.0)
    for rung in ("[] dropped", "[], smoothed, dropped", "[0], smoothed, dropped"):
        assert f"fp32 layers {rung}" in str(refused.value)
    assert not (folder / "onnx" / "model.int8.onnx").exists()

    report = export_artifact(folder, quantize="int8", max_drop=-100.0, force=True)
    tried = report.int8_tried
    rungs = [(t["fp32_layers"], t["smoothed"]) for t in tried]
    assert rungs == [([], False), ([], True), ([0], True)] and report.forced
    kept = [t for t in tried if t["kept"]]
    assert len(kept) == 1 and kept[0]["drop_points"] == min(t["drop_points"] for t in tried)
    assert report.gates[1].drop_points == kept[0]["drop_points"]
    # the graph on disk is the kept rung: layer 0's MatMuls in fp32 exactly when it says so
    on_disk = onnx_file(folder, int8=True)
    assert (fp32_weight_matmuls(on_disk) > 0) == (kept[0]["fp32_layers"] == [0])
    assert (smooth_muls(on_disk) > 0) == kept[0]["smoothed"]
    recorded = ArtifactMeta.read(folder).extra["export"]["int8_tried"]
    assert [t["kept"] for t in recorded] == [t["kept"] for t in tried]


def test_exact_kernels_gate_the_exact_graph_and_write_the_quantized_one(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    folder = fresh_copy(trained["ner"], tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "export",
            str(folder),
            "--quantize",
            "int8",
            "--max-drop",
            "100",
            "--int8-kernels",
            "exact",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "int8 kernels saturate" not in flat(result.output)  # the note is for --int8-kernels cpu
    record = ArtifactMeta.read(folder).extra["export"]
    assert record["int8_gate_kernels"] == "exact"
    written = onnx.load(str(onnx_file(folder, int8=True)))
    ops = {n.op_type for n in written.graph.node}
    assert "MatMulInteger" in ops and not any(
        "/exact" in o for n in written.graph.node for o in n.output
    )
    # the gate's figure is the exact rewrite's of the graph written
    exact = tmp_path / "exact.onnx"
    onnx.save(exact_int8(written), str(exact))
    predictor = load_artifact(folder)
    metric = record["gate"][1]["metric"]
    want = onnx_metrics(predictor, exact, dev_examples(predictor))[metric]
    assert record["gate"][1]["exported"] == pytest.approx(want)
    assert "int8 gated with: exact int8 products" in (folder / "README.md").read_text()

    # `cotune evaluate --int8-kernels exact` runs the graph as the gate did
    out = tmp_path / "metrics.json"
    args = ["evaluate", str(folder), "--onnx", "int8", "--int8-kernels", "exact", "--split", "dev"]
    evaluated = CliRunner().invoke(app, [*args, "--output", str(out)])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(out.read_text())
    assert metrics["int8_kernels"] == "exact" and metrics[metric] == pytest.approx(want)
    pytorch_exact = CliRunner().invoke(app, ["evaluate", str(folder), "--int8-kernels", "exact"])
    assert pytorch_exact.exit_code == 2 and "add --onnx int8" in flat(pytorch_exact.output)


def test_cpu_kernels_gate_notes_saturation_and_bad_kernels_are_named(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    folder = fresh_copy(trained["cls"], tmp_path)
    result = CliRunner().invoke(
        app, ["export", str(folder), "--quantize", "int8", "--max-drop", "100"]
    )
    assert result.exit_code == 0, result.output
    assert ("int8 kernels saturate" in flat(result.output)) is int8_kernels_saturate()
    assert ArtifactMeta.read(folder).extra["export"]["int8_gate_kernels"] == "cpu"
    assert "int8 gated with: the exporting CPU's" in (folder / "README.md").read_text()

    before = onnx_file(folder, int8=True).read_bytes()
    bad = CliRunner().invoke(
        app, ["export", str(folder), "--quantize", "int8", "--int8-kernels", "vnni"]
    )
    assert (
        bad.exit_code == 2
        and "--int8-kernels: Input should be 'cpu' or 'exact' (got 'vnni')" in flat(bad.output)
    )
    assert onnx_file(folder, int8=True).read_bytes() == before
