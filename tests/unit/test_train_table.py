"""`cotune train` prints its scores as tables (not dict reprs), and --json as machine output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cotune.cli.main import app
from cotune.cli.metrics_table import breakdown_table, scores_table

from .helpers import CLS, NER

runner = CliRunner()


def _train(backbone: Path, out: Path, task: str, data: Path, *extra: str):
    cfg = out / f"{task}.yaml"
    cfg.write_text(
        f"task: {task}\ndata: {{train: {data}, dev: {data}, test: {data}}}\n"
        f"model: {{backbone: {backbone}, max_length: 16}}\noutput_dir: {out}\nname: run\n"
        "train: {epochs: 1, batch_size: 4}\n"
    )
    return runner.invoke(app, ["train", str(cfg), "-q", *extra], terminal_width=200)


@pytest.mark.parametrize(
    ("task", "data", "metric", "breakdown", "label"),
    [
        ("token-classification", NER, "f1", "entity types", "person"),
        ("sequence-classification", CLS, "accuracy", "classes", "pos"),
    ],
)
def test_train_prints_tables(
    tiny_backbone: Path,
    tmp_path: Path,
    task: str,
    data: Path,
    metric: str,
    breakdown: str,
    label: str,
) -> None:
    res = _train(tiny_backbone, tmp_path, task, data)
    assert res.exit_code == 0, res.output
    assert "{'" not in res.output, res.output  # the old dict repr
    lines = res.output.splitlines()
    header = next(line for line in lines if "metric" in line and "dev" in line)
    assert header.index("dev") < header.index("test")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    row = next(line for line in lines if line.strip("│┃ ").startswith(metric + " "))
    # the row shows dev then test, each to 4 decimals, as metrics.json holds them
    assert f"{metrics['dev'][metric]:.4f}" in row and f"{metrics['test'][metric]:.4f}" in row
    assert breakdown in res.output
    assert any(line.strip("│┃ ").startswith(label + " ") for line in lines), res.output
    assert "trained" in res.output and "model written to" in res.output


def test_train_json_is_the_metrics_file(tiny_backbone: Path, tmp_path: Path) -> None:
    res = _train(tiny_backbone, tmp_path, "sequence-classification", CLS, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads((tmp_path / "run" / "metrics.json").read_text())


def test_tables_handle_a_run_with_one_split_or_none() -> None:
    only_dev = {"dev": {"f1": 0.5, "n_sentences": 3, "per_type": {}}, "test": None}
    table = scores_table(only_dev)
    assert table is not None and [c.header for c in table.columns] == ["metric", "dev"]
    assert breakdown_table(only_dev) is None
    assert scores_table({"dev": None, "test": {}}) is None
