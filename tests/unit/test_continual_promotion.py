"""Promotion: a candidate replaces the current version only if it gains on the new data and
loses at most a margin on the earlier data; the comparison lands in its card either way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cotune.artifact import load_artifact
from cotune.cli.main import app
from cotune.config.continual import ContinualConfig
from cotune.data.refs import load_examples
from cotune.errors import DataError
from cotune.recipes.finetune import finetune
from cotune.registry import ModelRegistry
from cotune.registry.promotion import challenge

from .helpers import CLS, tiny_config
from .tracking_helpers import fresh_mlflow_uri


def accuracy(folder: Path, data: Path) -> float:
    return float(load_artifact(folder).evaluate(load_examples(str(data)))["accuracy"])


@pytest.fixture(scope="module")
def setup(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("promo")
    cfg = tiny_config(tiny_backbone, tmp / "v1", "cls", epochs=20, lr=5e-3)
    current = finetune(cfg, progress=False)
    # the "new" data contradicts the earlier: a model that learns it forgets the earlier
    flipped = tmp / "flipped.jsonl"
    swap = {"pos": "neg", "neg": "pos"}
    rows = [json.loads(line) for line in CLS.read_text().splitlines()]
    flipped.write_text("".join(json.dumps({**r, "label": swap[r["label"]]}) + "\n" for r in rows))
    child = tiny_config(tiny_backbone, tmp / "v2", "cls", epochs=20, lr=5e-3)
    child.data = child.data.model_copy(update={"train": flipped, "dev": flipped, "test": flipped})
    child.continual = ContinualConfig(parent=current)
    candidate = finetune(child, progress=False)
    uri = fresh_mlflow_uri(tmp)
    reg = ModelRegistry(uri)
    reg.add("sentiment", current, alias="production")
    return {"uri": uri, "current": current, "candidate": candidate, "new": flipped}


def test_forgetting_candidate_is_refused_and_the_card_says_why(setup: dict[str, Any]) -> None:
    reg = ModelRegistry(setup["uri"])
    cand, cur, new = setup["candidate"], setup["current"], setup["new"]
    d = challenge(reg, "sentiment", str(cand), earlier=str(CLS), new=str(new), margin=0.01)
    # the scores are the models' own, recomputed here
    assert d.sets["earlier"]["candidate"] == pytest.approx(accuracy(cand, CLS))
    assert d.sets["earlier"]["current"] == pytest.approx(accuracy(cur, CLS))
    assert d.sets["new"]["candidate"] == pytest.approx(accuracy(cand, new))
    gain, drop = d.sets["new"]["change"], -d.sets["earlier"]["change"]
    assert gain > 0 and drop > 0.01  # the set-up does what it says
    assert not d.promoted and "forgetting" in d.reason
    assert reg.get("sentiment@production").version == 1
    assert d.candidate == "sentiment:2"  # the folder was registered, not promoted
    card = (cand / "README.md").read_text()
    assert "## Promotion" in card and "not promoted" in card and "## Lineage" in card
    # with room for the drop it goes through, and the alias moves
    d2 = challenge(reg, "sentiment", "sentiment:2", earlier=str(CLS), new=str(new), margin=1.0)
    assert d2.promoted and reg.get("sentiment@production").version == 2
    assert len(json.loads((cand / "promotion.json").read_text())) == 2


def test_no_gain_is_no_promotion_and_dry_run_moves_nothing(setup: dict[str, Any]) -> None:
    reg = ModelRegistry(setup["uri"])
    production = reg.get("sentiment@production")
    d = challenge(
        reg, "sentiment", production.ref, earlier=str(CLS), new=str(setup["new"]), margin=1
    )
    assert d.sets["new"]["change"] == 0 and not d.promoted and "not more than" in d.reason
    d = challenge(
        reg,
        "sentiment",
        "sentiment:1",
        earlier=str(CLS),
        new=str(setup["new"]),
        margin=1.0,
        min_gain=-2.0,
        dry_run=True,
    )
    assert d.eligible and not d.promoted
    assert reg.get("sentiment@production").version == production.version


def test_first_version_and_bad_sets(setup: dict[str, Any], tmp_path: Path) -> None:
    reg = ModelRegistry(setup["uri"])
    d = challenge(reg, "other", str(setup["current"]), earlier=str(CLS), new=str(setup["new"]))
    assert d.promoted and d.current == "none" and d.sets["new"]["current"] is None
    ner = tmp_path / "ner.conll"
    ner.write_text("paris\tB-LOC\n\n")
    with pytest.raises(DataError, match="--new"):
        challenge(reg, "sentiment", "sentiment:1", earlier=str(CLS), new=str(ner))


def test_cli_challenge(setup: dict[str, Any]) -> None:
    args = ["registry", "challenge", "sentiment", "sentiment:1", "--earlier", str(CLS)]
    args += ["--new", str(setup["new"]), "--uri", setup["uri"], "--dry-run", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert '"eligible"' in res.output and "earlier" in res.output
    res = CliRunner().invoke(app, [*args, "--margin", "-1"])
    assert res.exit_code == 2 and "--margin" in res.output
