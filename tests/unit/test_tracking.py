"""Tracking: a tiny run logs config, metrics as they happen, provenance, system info and its
artifact to MLflow on SQLite (or JSONL); `cotune runs` reads them back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cotune.cli.main import app
from cotune.errors import ConfigError
from cotune.recipes.finetune import finetune
from cotune.tracking import RunStopped, open_store, system_info
from cotune.tracking.locate import mlflow_uri, resolve_backend

from .helpers import tiny_config
from .tracking_helpers import fresh_mlflow_uri, tracked

runner = CliRunner()


@pytest.fixture(scope="module")
def mlflow_run(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("track")
    uri = fresh_mlflow_uri(tmp)
    cfg = tracked(tiny_config(tiny_backbone, tmp, "cls", epochs=3), "mlflow", uri)
    out = finetune(cfg, progress=False)
    return {"uri": uri, "out": out, "run_id": json.loads((out / "tracking.json").read_text())}


def test_tiny_run_logs_to_sqlite_and_runs_show_reads_it_back(mlflow_run: dict[str, Any]) -> None:
    out, uri = mlflow_run["out"], mlflow_run["uri"]
    run_id = mlflow_run["run_id"]["run_id"]
    res = runner.invoke(app, ["runs", "show", run_id[:8], "--uri", uri, "--json"])
    assert res.exit_code == 0, res.output
    shown = json.loads(res.stdout)
    metrics = json.loads((out / "metrics.json").read_text())
    assert shown["run_id"] == run_id and shown["status"] == "FINISHED"
    # the resolved config, as one param per dotted key
    assert shown["params"]["train.lr"] == "0.001" and shown["params"]["train.epochs"] == "3.0"
    assert shown["params"]["data.train"].endswith("cls_tiny.jsonl")
    # final scores equal the artifact's
    assert shown["metrics"]["final_dev_accuracy"] == pytest.approx(metrics["dev"]["accuracy"])
    assert shown["metrics"]["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    # provenance, split, system, artifact
    tags = shown["tags"]
    assert tags["data.sha256"] and tags["split.method"] == "given-files"
    assert tags["sys.torch"] and tags["sys.hostname"] and tags["sys.cotune"]
    assert tags["cotune.artifact_path"] == str(out.resolve())
    assert tags["cotune.artifact_logged"] == "path+small-files"
    assert tags["cotune.metric"] == "accuracy"
    res = runner.invoke(app, ["runs", "list", "--uri", uri, "--json"])
    assert res.exit_code == 0, res.output
    assert [(r["run_id"], r["name"]) for r in json.loads(res.stdout)] == [(run_id, "cls_tiny-full")]
    assert runner.invoke(app, ["runs", "show", run_id, "--uri", uri]).exit_code == 0


def test_metrics_are_logged_per_evaluation_at_their_step(mlflow_run: dict[str, Any]) -> None:
    store = open_store("mlflow", mlflow_run["uri"])
    run_id = mlflow_run["run_id"]["run_id"]
    history = [
        json.loads(line) for line in (mlflow_run["out"] / "history.jsonl").read_text().splitlines()
    ]
    evals = [(h["step"], h["dev"]["accuracy"]) for h in history if h["type"] == "eval"]
    assert len(evals) == 3  # one per epoch
    assert store.metric_history(run_id, "dev_accuracy") == evals  # floats survive exactly
    assert len(store.metric_history(run_id, "train_loss")) >= 1


def test_small_files_are_copied_into_the_run(mlflow_run: dict[str, Any], tmp_path: Path) -> None:
    store = open_store("mlflow", mlflow_run["uri"])
    run_id = mlflow_run["run_id"]["run_id"]
    for name in ("config.yaml", "system.json", "artifact/cotune.json", "artifact/README.md"):
        assert store.fetch_file(run_id, name, tmp_path / name.replace("/", "_")) is not None, name
    assert store.fetch_file(run_id, "artifact/model.safetensors", tmp_path / "w") is None
    assert mlflow_run["run_id"]["artifact_logged"] == "path"


def test_jsonl_backend_and_compare(tiny_backbone: Path, tmp_path: Path) -> None:
    root = str(tmp_path / "runs-jsonl")
    ids = []
    for lr in (1e-3, 5e-3):
        cfg = tiny_config(tiny_backbone, tmp_path, "cls", max_steps=2, lr=lr)
        cfg.name = f"lr{lr}"
        finetune(tracked(cfg, "jsonl", root), progress=False)
        ids.append(json.loads((tmp_path / cfg.name / "tracking.json").read_text())["run_id"])
    res = runner.invoke(
        app, ["runs", "compare", *ids, "--backend", "jsonl", "--uri", root, "--json"]
    )
    assert res.exit_code == 0, res.output
    cmp = json.loads(res.stdout)
    assert cmp["params"]["train.lr"] == ["0.001", "0.005"]
    assert "train.batch_size" not in cmp["params"]  # equal params are left out
    assert len(cmp["metrics"]["test_accuracy"]) == 2
    assert (
        "lr0.001"
        in runner.invoke(app, ["runs", "list", "--backend", "jsonl", "--uri", root]).stdout
    )


class _Boom:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def on_step_end(self, state: Any, model: Any) -> None:
        if state.step == 2:
            raise self.exc


@pytest.mark.parametrize(
    ("exc", "status"), [(RuntimeError("disk full"), "FAILED"), (RunStopped("pruned"), "KILLED")]
)
def test_failed_run_keeps_its_curve_and_says_why(
    tiny_backbone: Path, tmp_path: Path, exc: BaseException, status: str
) -> None:
    root = str(tmp_path / "j")
    cfg = tracked(
        tiny_config(tiny_backbone, tmp_path, "cls", epochs=3, eval_every=1), "jsonl", root
    )
    with pytest.raises(type(exc)):
        finetune(cfg, progress=False, callbacks=[_Boom(exc)])
    (run,) = open_store("jsonl", root).list_runs()
    assert run.status == status and type(exc).__name__ in run.tags["cotune.error"]
    # logged as it happened: the evaluations before the failure are there
    assert [s for s, _ in open_store("jsonl", root).metric_history(run.run_id, "dev_accuracy")] == [
        1,
        2,
    ]


def test_none_backend_writes_nothing(
    tiny_backbone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COTUNE_TRACKING", raising=False)
    cfg = tracked(tiny_config(tiny_backbone, tmp_path, "cls", max_steps=1), "none", None)  # type: ignore[arg-type]
    out = finetune(cfg, progress=False)
    assert not (out / "tracking.json").exists() and not (tmp_path / "home").exists()


def test_tracking_shorthand() -> None:
    from cotune.config.tracking import TrackingConfig

    assert TrackingConfig.model_validate("none").backend == "none"
    assert TrackingConfig.model_validate(False).backend == "none"  # YAML `tracking: off`
    assert TrackingConfig.model_validate("jsonl").backend == "jsonl"
    with pytest.raises(ValueError, match="backend"):
        TrackingConfig.model_validate("wandb")


def test_where_runs_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("COTUNE_HOME", str(tmp_path))
    assert mlflow_uri() == f"sqlite:///{tmp_path / 'mlruns.db'}"
    assert mlflow_uri("team.db").startswith("sqlite:////") and mlflow_uri("team.db").endswith(
        "/team.db"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.lab:5000")
    assert mlflow_uri() == "http://mlflow.lab:5000"  # a team's server
    assert mlflow_uri("sqlite:///x.db") == "sqlite:///x.db"  # config wins over the env
    with pytest.raises(ConfigError, match="tracking.uri"):
        mlflow_uri("runs-folder")
    monkeypatch.setenv("COTUNE_TRACKING", "jsonl")
    assert resolve_backend("auto") == "jsonl" and resolve_backend("mlflow") == "mlflow"
    monkeypatch.setenv("COTUNE_TRACKING", "wandb")
    with pytest.raises(ConfigError, match="wandb"):
        resolve_backend("auto")


def test_system_info_names_versions_and_machine() -> None:
    info = system_info()
    for key in ("cotune", "python", "torch", "transformers", "cpu", "cpu_count", "hostname"):
        assert info[key], key
    assert info["torch_threads"] >= 1


def test_history_metrics_carry_dp_epsilon() -> None:
    from cotune.tracking.callback import history_metrics

    train = {"type": "train", "step": 10, "loss": 0.5, "epsilon": 1.25, "dp_clipped_frac": 0.5}
    train["dp_snr"] = 0.25
    assert history_metrics(train) == {
        "train_loss": 0.5,
        "epsilon": 1.25,
        "dp_clipped_frac": 0.5,
        "dp_snr": 0.25,
    }
    ev = {"type": "eval", "step": 10, "dev": {"accuracy": 0.75}, "epsilon": 2.0}
    assert history_metrics(ev) == {"dev_accuracy": 0.75, "epsilon": 2.0}
