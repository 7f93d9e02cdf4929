"""Registry (add, list, show, promote, export on MLflow's registry in the tracking store) and
`cotune reproduce` from a registered version, a run id and a folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from cotune.artifact import load_artifact
from cotune.cli.main import app
from cotune.errors import ArtifactError, ConfigError
from cotune.recipes.finetune import finetune
from cotune.recipes.reproduce import reproduce
from cotune.registry import ModelRegistry, parse_ref

from .helpers import tiny_config
from .tracking_helpers import fresh_mlflow_uri, tracked

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two tracked NER runs (lr 5e-3 and 1e-2) in one store."""
    tmp = tmp_path_factory.mktemp("reg")
    uri = fresh_mlflow_uri(tmp)
    folders = []
    for lr in (5e-3, 1e-2):
        cfg = tracked(tiny_config(tiny_backbone, tmp / "runs", epochs=4, lr=lr), "mlflow", uri)
        cfg.name = f"ner-{lr}"
        folders.append(finetune(cfg, progress=False))
    return {"uri": uri, "folders": folders, "tmp": tmp}


def _run_id(folder: Path) -> str:
    return str(json.loads((folder / "tracking.json").read_text())["run_id"])


def test_add_list_show_promote_export(store: dict[str, Any], tmp_path: Path) -> None:
    uri, (v1, v2) = store["uri"], store["folders"]
    for folder in (v1, v2):
        res = runner.invoke(app, ["registry", "add", "tweets-ner", str(folder), "--uri", uri])
        assert res.exit_code == 0, res.output
    reg = ModelRegistry(uri)
    versions = reg.versions("tweets-ner")
    # a version points at its artifact folder and at the run that made it
    assert [(v.version, v.source, v.run_id) for v in versions] == [
        (1, str(v1.resolve()), _run_id(v1)),
        (2, str(v2.resolve()), _run_id(v2)),
    ]
    f1 = json.loads((v1 / "metrics.json").read_text())["test"]["f1"]
    assert versions[0].tags["test_f1"] == f"{f1:.4f}" and versions[0].tags["data.name"]

    res = runner.invoke(
        app, ["registry", "promote", "tweets-ner:1", "--alias", "production", "--uri", uri]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["registry", "promote", "tweets-ner:2", "--stage", "staging", "--uri", uri]
    )
    assert res.exit_code == 0, res.output
    assert reg.get("tweets-ner@production").version == 1
    assert reg.get("tweets-ner:2").stage == "Staging"
    assert reg.get("tweets-ner").version == 2  # latest
    assert reg.get("models:/tweets-ner/1").aliases == ["production"]

    res = runner.invoke(app, ["registry", "list", "--uri", uri, "--json"])
    assert res.exit_code == 0, res.output
    (listed,) = json.loads(res.stdout)
    assert listed["name"] == "tweets-ner" and listed["aliases"] == {"production": 1}
    res = runner.invoke(app, ["registry", "show", "tweets-ner", "--uri", uri, "--json"])
    assert [v["version"] for v in json.loads(res.stdout)] == [1, 2]
    assert runner.invoke(app, ["registry", "show", "tweets-ner", "--uri", uri]).exit_code == 0

    dest = tmp_path / "shipped"
    res = runner.invoke(
        app, ["registry", "export", "tweets-ner@production", str(dest), "--uri", uri]
    )
    assert res.exit_code == 0, res.output
    ids = torch.tensor([[2, 30, 40, 24, 3]])
    a, b = load_artifact(v1), load_artifact(dest)
    assert torch.equal(a.model(input_ids=ids).logits, b.model(input_ids=ids).logits)


def test_bad_references_are_messages(store: dict[str, Any], tmp_path: Path) -> None:
    reg = ModelRegistry(store["uri"])
    with pytest.raises(ArtifactError, match="not in the registry"):
        reg.get("no-such-model")
    with pytest.raises(ConfigError, match="not a number"):
        parse_ref("m:latest")
    with pytest.raises(ArtifactError, match="not a cotune artifact"):
        reg.add("m", tmp_path)
    res = runner.invoke(app, ["registry", "show", "nope@x", "--uri", store["uri"]])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_export_from_the_run_when_the_folder_is_gone(tiny_backbone: Path, tmp_path: Path) -> None:
    uri = fresh_mlflow_uri(tmp_path)
    cfg = tracked(
        tiny_config(tiny_backbone, tmp_path / "runs", "cls", max_steps=2),
        "mlflow",
        uri,
        copy_artifact=True,
    )
    folder = finetune(cfg, progress=False)
    reg = ModelRegistry(uri)
    reg.add("cls", folder)
    shutil.rmtree(folder)
    out = reg.export("cls:1", tmp_path / "restored")
    assert (out / "model.safetensors").is_file() and load_artifact(out).predict_text(["good"])


def test_reproduce_a_registered_version(store: dict[str, Any]) -> None:
    uri, v1 = store["uri"], store["folders"][0]
    reg = ModelRegistry(uri)
    if "repro" not in {m["name"] for m in reg.list()}:
        reg.add("repro", v1, alias="production")
    res = runner.invoke(
        app,
        ["reproduce", "repro@production", "--uri", uri, "--output-dir", str(store["tmp"] / "rr")],
    )
    assert res.exit_code == 0, res.output
    assert "reproduced: test f1 moved +0.00 points" in res.output
    rerun = store["tmp"] / "rr" / "ner-0.005-reproduce"
    # the re-run is itself tracked, and says what it reproduces
    from cotune.tracking import open_store

    run = open_store("mlflow", uri).get_run(_run_id(rerun))
    assert run.tags["cotune.kind"] == "reproduce" and run.tags["cotune.reproduces"] == _run_id(v1)


def test_reproduce_a_run_whose_folder_is_gone(store: dict[str, Any], tmp_path: Path) -> None:
    """The config, split record and metrics were copied into the run: enough to re-run."""
    uri, v2 = store["uri"], store["folders"][1]
    run_id = _run_id(v2)
    moved = tmp_path / "elsewhere"
    shutil.move(str(v2), moved)
    try:
        rep = reproduce(run_id[:10], uri=uri, output_dir=tmp_path, progress=False)
    finally:
        shutil.move(str(moved), v2)
    assert rep.original_run == run_id and rep.split == "test"
    assert rep.within_tolerance and rep.diff["f1"] == 0.0
    assert rep.split_match is None or rep.split_match  # given files: no shuffle to fingerprint
    assert rep.data_match is True
