"""Artifacts load in plain transformers pipelines and agree with cotune's predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import pipeline

from cotune.artifact import load_artifact
from cotune.recipes.finetune import finetune

from .helpers import tiny_config

TEXTS = [
    "john visited paris with mary .",
    "obama and apple went to new york today !",
    "the film in berlin was great",
]


@pytest.fixture(scope="module")
def ner_artifact(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("ner"), epochs=20, lr=5e-3)
    return finetune(cfg, progress=False)


def test_folder_holds_everything(ner_artifact: Path) -> None:
    names = {p.name for p in ner_artifact.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "cotune.json",
        "metrics.json",
        "training_curve.png",
        "README.md",
        "history.jsonl",
    } <= names
    meta = json.loads((ner_artifact / "cotune.json").read_text())
    assert meta["data"]["split"]["method"] == "given-files"
    assert meta["backbone"]["fingerprint"]
    card = (ner_artifact / "README.md").read_text()
    assert card.startswith("---\n") and "pipeline_tag: token-classification" in card


def test_token_pipeline_agrees_with_cotune_predict(ner_artifact: Path) -> None:
    pred = load_artifact(ner_artifact)
    ours = pred.predict_text(TEXTS)
    assert any(ours), "the trained tiny model should find some entity"
    pipe = pipeline("token-classification", model=str(ner_artifact), aggregation_strategy="first")
    for text, mine in zip(TEXTS, ours, strict=True):
        theirs = pipe(text)
        assert [(e.label, e.start, e.end) for e in mine] == [
            (t["entity_group"], t["start"], t["end"]) for t in theirs
        ]
        for e, t in zip(mine, theirs, strict=True):
            assert e.score == pytest.approx(float(t["score"]), abs=1e-5)


def test_text_pipeline_agrees_with_cotune_predict(tiny_backbone: Path, tmp_path: Path) -> None:
    out = finetune(tiny_config(tiny_backbone, tmp_path, "cls", epochs=5), progress=False)
    pred = load_artifact(out)
    texts = ["a great film", "awful bad movie", "she likes paris"]
    ours = pred.predict_text(texts)
    pipe = pipeline("text-classification", model=str(out), top_k=None)
    for mine, theirs in zip(ours, pipe(texts), strict=True):
        best = max(theirs, key=lambda d: d["score"])
        assert mine.labels == [best["label"]]
        for d in theirs:
            assert mine.probs[d["label"]] == pytest.approx(d["score"], abs=1e-5)


def test_reloaded_artifact_predicts_the_same(ner_artifact: Path) -> None:
    a, b = load_artifact(ner_artifact), load_artifact(ner_artifact)
    ids = torch.tensor([[2, 10, 11, 3]])
    assert torch.equal(a.model(input_ids=ids).logits, b.model(input_ids=ids).logits)
