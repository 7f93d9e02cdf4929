"""Word-level NER: label alignment, windows instead of truncation, spans, metrics vs seqeval."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2
from transformers import AutoTokenizer

from cotune.config.schema import ModelConfig
from cotune.data.examples import TokenExample
from cotune.tasks.base import IGNORE
from cotune.tasks.token_classification import TokenClassification, WordTags, bio_spans, repair_iob2

LABELS = ["B-PER", "I-PER", "B-LOC", "I-LOC", "O"]


@pytest.fixture()
def task(tiny_backbone: Path) -> TokenClassification:
    tok = AutoTokenizer.from_pretrained(tiny_backbone)
    return TokenClassification(LABELS, tok, ModelConfig(max_length=12, window_context=2))


def test_label_on_first_subtoken_only(task: TokenClassification) -> None:
    ex = TokenExample(["johns", "visited", "paris"], ["B-PER", "O", "B-LOC"])
    (f,) = task.encode([ex])
    pieces = task.tokenizer.convert_ids_to_tokens(f.input_ids)
    assert pieces[:3] == ["[CLS]", "john", "##s"]
    assert f.labels[1] == LABELS.index("B-PER") and f.labels[2] == IGNORE
    assert [w for w in f.word_index if w >= 0] == [0, 1, 2]


def test_label_all_subtokens_uses_inside_tag(tiny_backbone: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_backbone)
    t = TokenClassification(LABELS, tok, ModelConfig(label_all_subtokens=True))
    (f,) = t.encode([TokenExample(["johns"], ["B-PER"])])
    assert f.labels[1:3] == [LABELS.index("B-PER"), LABELS.index("I-PER")]


def test_long_sentence_is_windowed_and_every_word_owned_once(task: TokenClassification) -> None:
    words = ("john visited paris and mary went to london with obama " * 4).split()
    ex = TokenExample(words, ["O"] * len(words))
    feats = task.encode([ex])
    assert len(feats) > 1
    assert all(len(f) <= 12 for f in feats)
    owned = sorted(w for f in feats for w in f.word_index if w >= 0)
    assert owned == list(range(len(words)))
    # context: some window sees words it does not own
    assert any(sum(1 for w in f.word_index if w >= 0) < len(f) - 2 for f in feats)


def test_word_longer_than_window_is_still_predicted(task: TokenClassification) -> None:
    words = ["a", "x" * 40, "b"]  # "x" * 40 -> 40 pieces under a 10-piece budget
    feats = task.encode([TokenExample(words, ["O", "B-PER", "O"])])
    assert sorted(w for f in feats for w in f.word_index if w >= 0) == [0, 1, 2]


def test_predict_covers_every_word_of_long_sentences(
    task: TokenClassification, tiny_backbone: Path
) -> None:
    model = task.build_model(tiny_backbone, task.cfg)
    words = ("paris london berlin " * 10).split()
    (pred,) = task.predict(model, [TokenExample(words, ["O"] * len(words))])
    assert len(pred.tags) == len(words) and all(s > 0 for s in pred.scores)


def test_repair_and_spans() -> None:
    assert repair_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-PER"]) == [
        "B-PER",
        "I-PER",
        "O",
        "B-LOC",
        "B-LOC",
        "B-PER",
    ]
    assert bio_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]) == [
        ("PER", 0, 2),
        ("LOC", 3, 4),
        ("LOC", 4, 5),
    ]


def test_predict_text_offsets_slice_exactly(task: TokenClassification, tiny_backbone: Path) -> None:
    model = task.build_model(tiny_backbone, task.cfg)
    torch.manual_seed(0)
    with torch.no_grad():  # bias the head so that every word is an entity
        model.classifier.bias.copy_(torch.tensor([5.0, 0, 0, 0, -5]))
    texts = ["  John's  visit to   Paris,today!  ", "naïve café @obama #tags & co."]
    for text, ents in zip(texts, task.predict_text(model, texts), strict=True):
        assert ents
        for e in ents:
            assert text[e.start : e.end] == e.text and e.text.strip() == e.text


def test_metrics_match_seqeval_strict(task: TokenClassification) -> None:
    gold = [TokenExample(["a", "b", "c"], ["B-PER", "I-PER", "O"]), TokenExample(["d"], ["B-LOC"])]
    preds = [WordTags(["B-PER", "O", "O"], [1, 1, 1]), WordTags(["B-LOC"], [1])]
    m = task.metrics(preds, gold)
    ref = f1_score([g.tags for g in gold], [p.tags for p in preds], mode="strict", scheme=IOB2)
    assert m["f1"] == pytest.approx(ref) == pytest.approx(0.5)
    assert m["per_tag"]["B-PER"]["recall"] == 1.0
    assert m["per_type"]["LOC"]["f1-score"] == 1.0
