"""Classification of texts longer than max_length: overlapping windows, logits aggregated.

Checked against references written out here: the model run on each window by itself, and the
truncating encoder this replaced (for texts that fit, the logits must not move by one bit)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from cotune.artifact import load_artifact
from cotune.config.schema import ModelConfig
from cotune.data.examples import TextExample
from cotune.recipes.finetune import finetune
from cotune.tasks.sequence_classification import (
    SequenceClassification,
    aggregate_windows,
    window_bounds,
)

from .helpers import tiny_config

LABELS = ["neg", "pos", "other"]
SHORT = ["a great film", "the movie was bad !", "john visited paris today ."]
LONG = " ".join(["the film was great and john loves it"] * 6 + ["but the end was awful"] * 5)


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_backbone: Path):
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_backbone, num_labels=3).eval()
    with torch.no_grad():  # a random head with non-zero bias, so a dropped window shows
        for p in model.classifier.parameters():
            p.add_(torch.randn_like(p))
    return model, AutoTokenizer.from_pretrained(tiny_backbone)


def _task(tokenizer, **model: object) -> SequenceClassification:
    return SequenceClassification(LABELS, tokenizer, ModelConfig(max_length=16, **model))


def _probs(predictions) -> np.ndarray:
    return np.array([[p.probs[lab] for lab in LABELS] for p in predictions])


@torch.no_grad()
def _logits(model, ids: list[int]) -> torch.Tensor:
    return model(input_ids=torch.tensor([ids])).logits[0]


@given(n=st.integers(0, 400), budget=st.integers(2, 64), overlap=st.integers(0, 80))
def test_windows_cover_the_text_and_advance(n: int, budget: int, overlap: int) -> None:
    bounds = window_bounds(n, budget, overlap)
    if n <= budget:
        assert bounds == [(0, n)]
        return
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(b - a == budget for a, b in bounds)  # every window full, the last one too
    for (a1, b1), (a2, _) in itertools.pairwise(bounds):
        assert a1 < a2 <= b1  # advances, no gap
        assert b1 - a2 >= min(overlap, budget // 2)  # shares at least the overlap asked for


def test_aggregation_is_the_mean_or_the_max_per_text() -> None:
    logits = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [-2.0, 4.0]], dtype=np.float32)
    owner = np.array([0, 0, 1, 0])
    assert np.allclose(aggregate_windows(logits, owner, 2, "mean"), [[2 / 3, 5 / 3], [0.5, 0.5]])
    assert np.array_equal(aggregate_windows(logits, owner, 2, "max"), [[3.0, 4.0], [0.5, 0.5]])


def test_texts_that_fit_keep_the_logits_of_the_truncating_encoder(model_and_tokenizer) -> None:
    model, tok = model_and_tokenizer
    task = _task(tok)
    assert [len(f) for f in task.windows([TextExample(t, []) for t in SHORT])] == [
        len(ids) for ids in tok(SHORT)["input_ids"]
    ]
    # the encoder this replaced: truncate, pad, softmax
    enc = tok(SHORT, truncation=True, max_length=16, padding=True, return_tensors="pt")
    with torch.no_grad():
        old = torch.softmax(model(**enc).logits, dim=-1).numpy()
    got = _probs(task.predict_text(model, SHORT))
    assert np.array_equal(got, old), (got, old)  # bit for bit: same ids, same batch
    # and each is the model on that text alone (padding moves the last bits only)
    for text, p in zip(SHORT, got, strict=True):
        alone = torch.softmax(_logits(model, tok(text)["input_ids"]), dim=-1).numpy()
        assert np.allclose(p, alone, atol=1e-6)


@pytest.mark.parametrize("how", ["mean", "max"])
def test_a_long_text_is_read_whole(model_and_tokenizer, how: str) -> None:
    model, tok = model_and_tokenizer
    task = _task(tok, long_texts=how, window_overlap=4)
    ids = tok(LONG, add_special_tokens=False)["input_ids"]
    bounds = window_bounds(len(ids), 14, 4)
    assert len(bounds) >= 4
    features = task.windows([TextExample(LONG, []), TextExample(SHORT[0], [])])
    assert [f.example_index for f in features] == [0] * len(bounds) + [1]
    cls, sep = tok.cls_token_id, tok.sep_token_id
    per_window = torch.stack([_logits(model, [cls, *ids[a:b], sep]) for a, b in bounds])
    for f, (a, b) in zip(features, bounds, strict=False):
        assert f.input_ids == [cls, *ids[a:b], sep]
    expected = per_window.mean(0) if how == "mean" else per_window.max(0).values
    got = _probs(task.predict_text(model, [LONG, SHORT[0]]))
    assert np.allclose(got[0], torch.softmax(expected, -1).numpy(), atol=1e-6)
    # and it is not what truncation reads: the windows past the first one count
    first = torch.softmax(per_window[0], -1).numpy()
    assert not np.allclose(got[0], first, atol=1e-4)
    truncating = _probs(_task(tok, long_texts="truncate").predict_text(model, [LONG]))
    assert np.allclose(truncating[0], first, atol=1e-6)


def test_training_reads_one_window_per_text(model_and_tokenizer) -> None:
    _, tok = model_and_tokenizer
    features = _task(tok).encode([TextExample(LONG, ["pos"]), TextExample(SHORT[0], ["neg"])])
    assert [(f.example_index, f.labels, len(f)) for f in features] == [(0, 1, 16), (1, 0, 5)]


def test_a_trained_artifact_windows_at_predict_and_evaluate(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    out = finetune(tiny_config(tiny_backbone, tmp_path, "cls", epochs=1), progress=False)
    predictor = load_artifact(out)
    assert predictor.task.cfg.long_texts == "mean"  # the default, saved in the artifact
    long = LONG.replace("john", "great")
    (pred,) = predictor.predict_text([long])
    assert len(predictor.task.windows([TextExample(long, [])])) > 1
    assert abs(sum(pred.probs.values()) - 1) < 1e-5
    scores = predictor.evaluate([TextExample(long, [pred.labels[0]])])
    assert scores["accuracy"] == 1.0 and scores["n"] == 1
