"""The spine on the real shipped model and data (slow: run with `make integration`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import pipeline

from cotune.artifact import load_artifact
from cotune.config import load_config
from cotune.models.coverage import data_summary
from cotune.recipes.finetune import finetune

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "Barack Obama flew to New York on Monday to meet Apple and Google executives .",
    "Watching the Lakers game at Madison Square Garden with @john tonight !!",
    "I love the new iPhone , but Samsung's Galaxy is cheaper in London",
]


@pytest.fixture(scope="module")
def wnut_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = load_config(
        ROOT / "configs/wnut16-ner.yaml",
        {
            "train.max_steps": 150,
            "train.eval_every": 150,
            "output_dir": str(tmp_path_factory.mktemp("w")),
        },
    )
    return finetune(cfg, progress=False)


def test_raw_text_spans_slice_the_input_exactly(wnut_model: Path) -> None:
    pred = load_artifact(wnut_model)
    results = pred.predict_text(TEXTS)
    assert any(results)
    for text, ents in zip(TEXTS, results, strict=True):
        for e in ents:
            assert text[e.start : e.end] == e.text


def test_pipeline_agrees_on_real_text(wnut_model: Path) -> None:
    ours = load_artifact(wnut_model).predict_text(TEXTS)
    pipe = pipeline("token-classification", model=str(wnut_model), aggregation_strategy="first")
    for text, mine in zip(TEXTS, ours, strict=True):
        theirs = pipe(text)
        assert [(e.label, e.start, e.end) for e in mine] == [
            (t["entity_group"], t["start"], t["end"]) for t in theirs
        ]


def test_chinese_unk_rate_is_reported() -> None:
    info = data_summary("peoples-daily-1998", model="minilm-l6")
    assert info["unk_rate"]["rate"] > 0.5  # minilm-l6 knows ~244 CJK characters
    assert info["stats"]["all"]["labels"].keys() >= {"PER", "LOC", "ORG"}
