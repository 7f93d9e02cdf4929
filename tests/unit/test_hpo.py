"""Hyper-parameter search: a 3-trial study on the tiny model keeps, tests once and registers the
best trial's artifact; pruning stops a trial from inside the loop; the space is checked at load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from cotune.cli.main import app
from cotune.config import load_config
from cotune.errors import ConfigError
from cotune.hpo import tune
from cotune.hpo.pruning import PruningCallback, TrialPruned
from cotune.hpo.space import trial_config
from cotune.recipes.finetune import finetune
from cotune.registry import ModelRegistry
from cotune.tracking import open_store

from .helpers import NER, tiny_config
from .tracking_helpers import fresh_mlflow_uri, tracked

runner = CliRunner()
SPACE = {
    "train.lr": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True},
    "train.batch_size": {"type": "categorical", "choices": [2, 4]},
}


def _config(tiny_backbone: Path, tmp: Path, uri: str, **tune_opts: Any) -> Path:
    raw = {
        "name": "tiny-ner",
        "task": "token-classification",
        "data": {"train": str(NER), "dev": str(NER), "test": str(NER)},
        "model": {"backbone": str(tiny_backbone), "max_length": 16, "window_context": 2},
        "train": {"epochs": 3, "seed": 7},
        "output_dir": str(tmp / "runs"),
        "tracking": {"backend": "mlflow", "uri": uri},
        "tune": {"trials": 3, "pruner_startup_trials": 1, "params": SPACE, **tune_opts},
    }
    path = tmp / "tune.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def study(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("hpo")
    uri = fresh_mlflow_uri(tmp)
    config = _config(tiny_backbone, tmp, uri)
    res = runner.invoke(app, ["tune", str(config), "--trials", "3", "-q", "--json"])
    assert res.exit_code == 0, res.output
    return {"uri": uri, "config": config, "result": json.loads(res.stdout), "log": res.output}


def test_best_trial_is_kept_tested_once_and_registered(study: dict[str, Any]) -> None:
    result, uri = study["result"], study["uri"]
    best = Path(result["best_folder"])
    trials = [t for t in result["trials"] if t["state"] == "COMPLETE"]
    assert len(result["trials"]) == 3 and trials
    # the kept artifact's dev score is the study's best value, exactly
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["dev"]["f1"] == result["best_value"] == max(t["value"] for t in trials)
    loaded = optuna.load_study(study_name="tiny-ner", storage=result["storage"])
    assert loaded.best_value == result["best_value"]
    assert best.name == f"trial-{loaded.best_trial.number:03d}"
    # only the best trial's folder is left (tune.keep: best)
    assert [p.name for p in (best.parent).iterdir()] == [best.name]
    # test is scored once, after the search, on the kept artifact only
    assert metrics["test"]["f1"] == result["test"]["f1"]
    assert "### test" in (best / "README.md").read_text()
    runs = open_store("mlflow", uri).list_runs()
    trial_runs = [r for r in runs if r.tags.get("cotune.kind") == "trial"]
    assert len(trial_runs) == 3
    with_test = [r.tags["cotune.trial"] for r in trial_runs if "test_f1" in r.metrics]
    assert with_test == [str(loaded.best_trial.number)]
    # registered: the version points at the kept folder and the best trial's run
    version = ModelRegistry(uri).get(result["registered"])
    assert version.source == str(best) and version.run_id == loaded.best_trial.user_attrs["run_id"]
    assert version.tags["dev_f1"] == f"{result['best_value']:.4f}"


def test_study_writes_plots_summary_and_a_parent_run(study: dict[str, Any]) -> None:
    result = study["result"]
    for name in ("optimization_history", "param_importances"):
        png = Path(result["plots"][name])
        assert png.read_bytes()[:4] == b"\x89PNG", name
    assert (
        json.loads((Path(result["folder"]) / "study.json").read_text())["best_trial"]
        == (result["best_trial"])
    )
    parent = open_store("mlflow", study["uri"]).get_run(result["study_run_id"])
    assert parent.tags["cotune.kind"] == "study" and parent.status == "FINISHED"
    assert parent.metrics["best_value"] == result["best_value"]
    assert "tune.params.train.lr.type" in parent.params


def test_a_second_worker_continues_the_same_study(study: dict[str, Any]) -> None:
    cfg = load_config(study["config"])
    result = tune(cfg, trials=1, seed=1, progress=False)
    assert [t["number"] for t in result.trials] == [0, 1, 2, 3]
    assert Path(result.best_folder).is_dir()
    assert ModelRegistry(study["uri"]).get(str(result.registered)).source == result.best_folder


def test_pruning_stops_the_trial_inside_the_loop(tiny_backbone: Path, tmp_path: Path) -> None:
    root = str(tmp_path / "j")
    cfg = tracked(tiny_config(tiny_backbone, tmp_path, epochs=3), "jsonl", root)
    # a real trial whose pruner prunes any f1 below 2 (all of them): the first report stops it
    trial = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(lower=2.0)).ask()
    with pytest.raises(TrialPruned, match="evaluation 1"):
        finetune(cfg, progress=False, callbacks=[PruningCallback(trial, "f1")])
    (run,) = open_store("jsonl", root).list_runs()
    assert run.status == "KILLED"
    assert len(open_store("jsonl", root).metric_history(run.run_id, "dev_f1")) == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"train.lrr": {"type": "float", "low": 1, "high": 2}}, "no config key 'lrr'"),
        ({"train": {"type": "int", "low": 1, "high": 2}}, "is a section"),
        ({"train.lr": {"type": "float", "low": 0, "high": 1, "log": True}}, "low > 0"),
        ({"train.lr": {"type": "float", "low": 2, "high": 1}}, "above high"),
        ({"train.batch_size": {"type": "categorical"}}, "choices"),
        ({"tune.trials": {"type": "int", "low": 1, "high": 2}}, "its own settings"),
    ],
)
def test_bad_search_space_fails_at_load(
    tmp_path: Path, params: dict[str, Any], message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "task": "token-classification",
                "data": {"source": "wnut16"},
                "tune": {"params": params},
            }
        )
    )
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_trial_config_is_a_plain_run(tiny_backbone: Path, tmp_path: Path) -> None:
    base = tiny_config(tiny_backbone, tmp_path)
    base.tune = {"params": {"method.r": {"type": "int", "low": 2, "high": 8}, **SPACE}}  # type: ignore[assignment]
    cfg = trial_config(
        base,
        {"train.lr": 0.01, "train.batch_size": 4},
        folder=tmp_path / "t",
        name="trial-007",
        tags={"cotune.trial": "7"},
    )
    assert cfg.tune is None and cfg.train.lr == 0.01 and cfg.train.batch_size == 4
    assert cfg.output_dir / cfg.run_name() == tmp_path / "t" / "trial-007"
    assert cfg.tracking.tags == {"cotune.trial": "7"} and cfg.train.epochs == base.train.epochs
