"""The command line: train with overrides, evaluate, predict (texts and resumable files), data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cotune.cli.main import app

from .helpers import CLS, NER

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_ner_model(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli")
    cfg = out / "ner.yaml"
    cfg.write_text(
        f"task: token-classification\ndata: {{train: {NER}, dev: {NER}, test: {NER}}}\n"
        f"model: {{backbone: {tiny_backbone}, max_length: 16}}\noutput_dir: {out}\nname: ner\n"
    )
    res = runner.invoke(app, ["train", str(cfg), "--train.epochs", "3", "--train.lr=0.005", "-q"])
    assert res.exit_code == 0, res.output
    assert "model written to" in res.output
    return out / "ner"


def test_train_overrides_are_recorded(cli_ner_model: Path) -> None:
    meta = json.loads((cli_ner_model / "cotune.json").read_text())
    assert meta["config"]["train"]["epochs"] == 3 and meta["config"]["train"]["lr"] == 0.005


def test_predict_text_and_evaluate(cli_ner_model: Path) -> None:
    res = runner.invoke(app, ["predict", str(cli_ner_model), "john visited paris"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["text"] == "john visited paris" and isinstance(out["entities"], list)
    res = runner.invoke(app, ["evaluate", str(cli_ner_model), "--data", str(NER)])
    assert res.exit_code == 0, res.output
    assert 0 <= json.loads(res.stdout)["f1"] <= 1


def test_predict_file_resumes_without_duplicates(cli_ner_model: Path, tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    rows = [{"id": i, "text": f"john visited paris {i}"} for i in range(7)]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    # a previous run stopped after 3 lines, the 4th torn mid-write
    full = runner.invoke(
        app, ["predict", str(cli_ner_model), str(inp), "-o", str(tmp_path / "ref.jsonl")]
    )
    assert full.exit_code == 0, full.output
    ref = (tmp_path / "ref.jsonl").read_text().splitlines()
    out.write_text("\n".join(ref[:3]) + "\n" + ref[3][:10])
    res = runner.invoke(app, ["predict", str(cli_ner_model), str(inp), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text().splitlines() == ref
    assert [json.loads(line)["id"] for line in ref] == list(range(7))


def test_bad_config_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("task: token-classification\ndata: {source: wnut16}\ntrain: {lrr: 1}\n")
    res = runner.invoke(app, ["train", str(cfg)])
    assert res.exit_code == 2
    assert "train.lrr" in res.output and "Traceback" not in res.output


def test_bad_data_names_file_and_line(tiny_backbone: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.conll"
    bad.write_text("john\tB-person\nparis\tGEO\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"task: token-classification\ndata: {{train: {bad}}}\n"
        f"model: {{backbone: {tiny_backbone}}}\noutput_dir: {tmp_path}\n"
    )
    res = runner.invoke(app, ["train", str(cfg)])
    assert res.exit_code == 2 and f"{bad}:2" in res.output and "GEO" in res.output


def test_data_list_and_show() -> None:
    res = runner.invoke(app, ["data", "list"])
    assert res.exit_code == 0 and "peoples-daily-1998" in res.stdout
    res = runner.invoke(app, ["data", "show", "wnut16"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["split"]["sizes"]["train"] == 1915 and "rate" in info["unk_rate"]


def test_help_everywhere() -> None:
    for cmd in (
        ["--help"],
        ["train", "--help"],
        ["predict", "--help"],
        ["evaluate", "--help"],
        ["data", "show", "--help"],
        ["methods", "list", "--help"],
    ):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 0 and "Usage" in res.output, cmd
    assert (
        "cotune train configs/wnut16-ner.yaml --train.lr"
        in runner.invoke(app, ["train", "--help"]).output
    )


def test_cls_model_predict_file(tiny_backbone: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"task: sequence-classification\ndata: {{train: {CLS}}}\n"
        f"model: {{backbone: {tiny_backbone}}}\noutput_dir: {tmp_path}\nname: c\n"
        "train: {max_steps: 2}\n"
    )
    assert runner.invoke(app, ["train", str(cfg), "-q"]).exit_code == 0
    inp = tmp_path / "t.txt"
    inp.write_text("great film\nawful movie\n")
    res = runner.invoke(app, ["predict", str(tmp_path / "c"), str(inp), "--top-k", "1"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 2 and rows[0]["label"] in ("pos", "neg") and len(rows[0]["scores"]) == 1
