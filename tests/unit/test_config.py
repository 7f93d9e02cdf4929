"""Typed configs: unknown keys named with their line, overrides, method options checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from cotune.config import load_config, parse_overrides
from cotune.errors import ConfigError

from .helpers import BASE


def test_overrides_parse_and_apply(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(BASE)
    ov = parse_overrides(["--train.lr", "3e-5", "--train.epochs=2", "--method.name", "freeze"])
    cfg = load_config(p, ov)
    assert cfg.train.lr == 3e-5 and cfg.train.epochs == 2 and cfg.method.name == "freeze"


def test_unknown_key_names_key_line_and_suggestion(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(BASE + "  learning_rate: 1\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert f"{p}:6" in msg and "train.learning_rate" in msg


def test_typo_gets_a_suggestion(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(BASE.replace("  lr:", "  lrr:"))
    with pytest.raises(ConfigError, match="did you mean 'lr'"):
        load_config(p)


def test_bad_value_and_bad_method_option(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(BASE.replace("5.0e-5", "-1"))
    with pytest.raises(ConfigError, match="train.lr"):
        load_config(p)
    p.write_text(BASE + "method:\n  name: freeze\n  bottom_layerz: 2\n")
    with pytest.raises(ConfigError, match="bottom_layerz"):
        load_config(p)
    p.write_text(BASE + "method:\n  name: nope\n")
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        load_config(p)


def test_override_without_value_is_an_error() -> None:
    with pytest.raises(ConfigError, match="--train.lr needs a value"):
        parse_overrides(["--train.lr"])
