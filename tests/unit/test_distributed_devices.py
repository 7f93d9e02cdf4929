"""--device on every command that runs a model (predict, evaluate, serve, export): auto and cpu
run here; cuda without a GPU is a clear error naming the flag, never a traceback; on a GPU
machine the model really runs there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cotune.artifact import load_artifact
from cotune.artifact.load import Predictor
from cotune.cli.main import app
from cotune.errors import ConfigError
from cotune.recipes.finetune import finetune

from .helpers import flat, tiny_config

runner = CliRunner()
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible")
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")


@pytest.fixture(scope="module")
def artifact(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("dev"), max_steps=2)
    return finetune(cfg, progress=False)


def test_predict_and_evaluate_take_a_device(artifact: Path) -> None:
    for device in ("auto", "cpu"):
        got = runner.invoke(app, ["predict", str(artifact), "paris is a city", "--device", device])
        assert got.exit_code == 0, got.output
        assert "tags" in got.stdout or "entities" in got.stdout
        got = runner.invoke(app, ["evaluate", str(artifact), "--split", "dev", "--device", device])
        assert got.exit_code == 0, got.output
        assert "f1" in json.loads(got.stdout)


@no_gpu
@pytest.mark.parametrize("command", ["predict", "evaluate", "serve"])
def test_cuda_without_a_gpu_names_the_flag(artifact: Path, command: str) -> None:
    args = {
        "predict": ["predict", str(artifact), "paris", "--device", "cuda"],
        "evaluate": ["evaluate", str(artifact), "--device", "cuda"],
        "serve": ["serve", str(artifact), "--device", "cuda", "--port", "0"],
    }[command]
    got = runner.invoke(app, args)
    assert got.exit_code == 2, got.output
    assert "--device is cuda but no CUDA GPU is visible" in flat(got.output)


def test_an_unknown_device_is_refused(artifact: Path) -> None:
    got = runner.invoke(app, ["evaluate", str(artifact), "--device", "tpu"])
    assert got.exit_code == 2
    assert "unknown device 'tpu'" in flat(got.output)


def test_an_onnx_graph_refuses_cuda_and_stays_on_the_cpu_for_auto() -> None:
    class Graph:  # what an ONNX predictor holds: not a torch module
        pass

    predictor = Predictor(Path("."), None, None, Graph(), None)  # type: ignore[arg-type]
    assert predictor.to("auto") is predictor
    with pytest.raises(ConfigError, match="ONNX graph runs on the CPU"):
        predictor.to("cuda")


@needs_gpu
def test_the_model_runs_on_the_gpu(artifact: Path) -> None:
    predictor = load_artifact(artifact).to("cuda")
    assert next(predictor.model.parameters()).device.type == "cuda"
    assert predictor.predict_text(["paris is a city"])
