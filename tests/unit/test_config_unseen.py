"""Bad configs and command lines: each is refused with the key, line or value named and exit
code 2, and a refused run leaves nothing behind that would block its corrected rerun."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cotune.cli.main import app
from cotune.config import load_config, parse_overrides
from cotune.config.pretrain import load_pretrain_config
from cotune.errors import ConfigError

from .helpers import BASE, CLS, NER, flat

runner = CliRunner()


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_override_value_that_is_not_yaml_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as e:
        parse_overrides(["--train.epochs=[1"])
    msg = str(e.value)
    assert "--train.epochs" in msg and "'[1'" in msg and "quote" in msg


def test_override_value_that_is_not_yaml_exits_2_without_traceback(tmp_path: Path) -> None:
    res = runner.invoke(app, ["train", str(_write(tmp_path, BASE)), "--name", "{a"])
    assert res.exit_code == 2, res.output
    assert "not valid YAML" in flat(res.output) and "Traceback" not in res.output


def test_override_below_a_value_names_the_value_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, BASE), parse_overrides(["--data.source.x", "3"]))
    msg = str(e.value)
    assert "'data.source' is a value" in msg and "--data.source VALUE" in msg


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        (BASE + "  lr: 3.0e-5\n", "train.lr", (5, 6)),
        (BASE + "train:\n  epochs: 2\n", "train", (4, 6)),
    ],
)
def test_duplicate_keys_are_refused_with_both_lines(
    tmp_path: Path, text: str, key: str, lines: tuple[int, int]
) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert f"{p}:{lines[1]}" in msg and repr(key) in msg
    assert f"lines {lines[0]} and {lines[1]}" in msg


def test_duplicate_keys_in_a_pretrain_config_are_refused(tmp_path: Path) -> None:
    p = _write(tmp_path, "text:\n  sources: [a.txt]\nname: a\nname: b\n")
    with pytest.raises(ConfigError, match="'name' is given twice"):
        load_pretrain_config(p)


@pytest.mark.parametrize("override", ["--train.lr", "--train.epochs", "--privacy.dp.epsilon"])
def test_infinite_numbers_are_refused(tmp_path: Path, override: str) -> None:
    with pytest.raises(ConfigError, match="finite number"):
        load_config(_write(tmp_path, BASE), parse_overrides([override, ".inf"]))


def test_a_numeric_run_name_is_a_name(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, BASE), parse_overrides(["--name", "2024"]))
    assert cfg.name == "2024" and cfg.run_name() == "2024"


@pytest.mark.parametrize("name", ["a/../../b", "..", "sub\\dir"])
def test_a_run_name_is_one_folder_inside_output_dir(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="not a folder name"):
        load_config(_write(tmp_path, BASE), {"name": name})


def test_a_pretrain_name_is_one_folder_too(tmp_path: Path) -> None:
    p = _write(tmp_path, "text:\n  sources: [a.txt]\nname: ../elsewhere\n")
    with pytest.raises(ConfigError, match="not a folder name"):
        load_pretrain_config(p)


def _cls_config(tmp_path: Path, backbone: Path | str, source: Path | str) -> Path:
    return _write(
        tmp_path,
        f"task: sequence-classification\nname: run\ndata:\n  source: {source}\n"
        f"model:\n  backbone: {backbone}\n  max_length: 16\noutput_dir: {tmp_path / 'out'}\n"
        "train:\n  max_steps: 1\n  batch_size: 2\n  threads: 1\n",
    )


def test_a_run_refused_at_set_up_leaves_no_folder_to_block_the_rerun(
    tmp_path: Path, tiny_backbone: Path
) -> None:
    bad = _cls_config(tmp_path, tiny_backbone, tmp_path / "missing.jsonl")
    res = runner.invoke(app, ["train", str(bad), "-q"])
    assert res.exit_code == 2, res.output
    assert not (tmp_path / "out" / "run").exists()
    # the same run with the data path corrected is not refused as 'already holds a run'
    res = runner.invoke(app, ["train", str(bad), "--data.source", str(CLS), "-q"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "run" / "cotune.json").exists()


def test_resume_over_an_unreadable_saved_config_is_refused_and_keeps_the_folder(
    tmp_path: Path,
) -> None:
    held = tmp_path / "out" / "run"
    held.mkdir(parents=True)
    (held / "run_config.yaml").write_text("someone's run\n")
    bad = _cls_config(tmp_path, "no-such-backbone", CLS)
    res = runner.invoke(app, ["train", str(bad), "--resume", "-q"])
    assert res.exit_code == 2, res.output
    assert "saved config is not a YAML mapping" in flat(res.output)
    assert (held / "run_config.yaml").read_text() == "someone's run\n"


def test_dp_with_prefix_tuning_is_refused_before_training(
    tmp_path: Path, tiny_backbone: Path
) -> None:
    p = _cls_config(tmp_path, tiny_backbone, CLS)
    res = runner.invoke(
        app,
        ["train", str(p), "--method.name", "prefix", "--privacy.dp.noise_multiplier", "1", "-q"],
    )
    assert res.exit_code == 2, res.output
    msg = flat(res.output)
    assert "prefix tuning" in msg and "privacy.dp / method.name" in msg
    assert not (tmp_path / "out" / "run").exists()


@pytest.mark.parametrize("command", [["registry", "list"], ["runs", "list"]])
def test_an_unsupported_store_uri_is_a_config_error(command: list[str]) -> None:
    res = runner.invoke(app, [*command, "--uri", "bogus://x"])
    assert res.exit_code == 2, res.output
    assert "bogus://x" in flat(res.output) and "Fix:" in res.output


def test_methods_list_help_shows_an_example() -> None:
    res = runner.invoke(app, ["methods", "list", "--help"])
    assert res.exit_code == 0 and "cotune methods list" in res.output


def test_a_duplicate_deep_in_the_tune_section_is_named_by_its_path(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        f"task: token-classification\ndata:\n  train: {NER}\ntune:\n  params:\n"
        "    train.lr: {type: float, low: 1.0e-5, high: 1.0e-3}\n"
        "    train.lr: {type: float, low: 1.0e-4, high: 1.0e-2}\n",
    )
    with pytest.raises(ConfigError, match=r"'tune\.params\.train\.lr' is given twice"):
        load_config(p)


def test_a_missing_required_key_is_named_without_dumping_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, "data:\n  source: wnut16\n"))
    msg = str(e.value)
    assert "missing required key 'task'" in msg and "got" not in msg


def test_a_rule_across_sections_reads_as_its_message(tmp_path: Path) -> None:
    p = _write(tmp_path, BASE + "tune:\n  params:\n    train.lrr: {type: float, low: 1, high: 2}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert "tune.params.train.lrr: no config key 'lrr'" in msg
    assert "(top level)" not in msg and "Value error" not in msg and "got {" not in msg
