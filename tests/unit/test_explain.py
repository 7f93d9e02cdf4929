"""Explanations on tiny models trained in the test: completeness of integrated gradients, word
offsets in English and Chinese, NER windows, per-label targets, faithfulness against a direct
re-prediction, and the inputs that must be refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from cotune.artifact import load_artifact
from cotune.errors import ArtifactError, ConfigError, DataError
from cotune.explain import METHODS, Explainer, Options, load_explainable
from cotune.explain.faithfulness import FRACTIONS, rank_words, top_k_counts

from .explain_helpers import cls_model, ner_model

__all__ = ["cls_model", "ner_model"]  # fixtures, imported for pytest
TEXT = "john visited paris with apple today , mary loves the new york film ."


def sharpened(folder: Path, seed: int = 0) -> object:
    """The artifact with every weight perturbed: a 2-step model's logits barely move with the
    input, and completeness on a logit gap of 1e-4 would prove little."""
    predictor = load_artifact(folder)
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in predictor.model.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return predictor


@pytest.mark.parametrize("task", ["ner", "cls"])
def test_integrated_gradients_are_complete(task: str, ner_model: Path, cls_model: Path) -> None:
    """Scores sum to logit(input) - logit(baseline) within 5% at the default step count, and
    the two logits are the model's own (computed here without Captum)."""
    predictor = sharpened(ner_model if task == "ner" else cls_model)
    explainer = Explainer(predictor, "ig")  # default steps
    layouts = explainer.layouts([TEXT, "mary hates the terrible film"])
    checked = 0
    for layout in layouts:
        for windows, target in layout.targets:
            result = explainer.attribute(layout, windows, target)
            win = layout.windows[windows[0]]
            ids = torch.tensor([win.input_ids])
            base = torch.tensor(
                [[t if w < 0 else 0 for t, w in zip(win.input_ids, win.word_of, strict=True)]]
            )
            with torch.no_grad():
                logits = predictor.model(input_ids=torch.cat([ids, base])).logits
            f_x, f_b = (float(v) for v in target.logit(logits))
            assert result.logit == pytest.approx(f_x, abs=1e-4)
            assert result.baseline_logit == pytest.approx(f_b, abs=1e-4)
            gap = f_x - f_b
            assert abs(gap) > 0.05, "the check needs a logit gap to be meaningful"
            total = sum(s for s in result.scores if s is not None)
            assert abs(total - gap) <= 0.05 * abs(gap)
            assert abs(result.delta or 0) <= 0.05 * abs(gap)
            checked += 1
    assert checked >= 2


def test_too_few_steps_are_visibly_incomplete(cls_model: Path) -> None:
    """The delta is a real measurement: with 2 steps it grows past what 50 steps give."""
    predictor = sharpened(cls_model, seed=3)
    layout = Explainer(predictor).layouts([TEXT])[0]
    deltas = []
    for steps in (2, 50):
        explainer = Explainer(predictor, "ig", Options(steps=steps))
        deltas.append(abs(explainer.attribute(layout, *layout.targets[0]).delta or 0))
    assert deltas[1] < deltas[0]


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("task", ["ner", "cls"])
def test_every_method_scores_every_word_with_offsets(
    method: str, task: str, ner_model: Path, cls_model: Path
) -> None:
    predictor = load_artifact(ner_model if task == "ner" else cls_model)
    text = "  john   visited PARIS,with apple\ttoday 北京很好 !"
    [explained] = Explainer(predictor, method).explain([text])
    record = explained.to_dict()
    for target in record["explanations"]:
        words = target["words"]
        assert [text[w["start"] : w["end"]] for w in words] == [w["word"] for w in words]
        assert "北" in [w["word"] for w in words]  # CJK: one word per character
        assert all(w["score"] is not None for w in words)
        assert any(w["score"] != 0 for w in words)
        if task == "ner":
            ent = target["entity"]
            assert text[ent["start"] : ent["end"]] == ent["text"]
    if task == "cls":
        assert [t["label"] for t in record["explanations"]] == record["prediction"]["labels"]


def test_each_predicted_entity_is_explained_at_its_own_probability(ner_model: Path) -> None:
    predictor = sharpened(ner_model, seed=1)
    [entities] = predictor.predict_text([TEXT])
    explainer = Explainer(predictor, "grad-x-input")
    [layout] = explainer.layouts([TEXT])
    assert [t.entity["text"] for _, t in layout.targets] == [e.text for e in entities]
    assert entities, "the sharpened tiny model should predict entities"
    for (windows, target), entity in zip(layout.targets, entities, strict=True):
        assert target.label == entity.label
        assert explainer.probability(layout, windows, target) == pytest.approx(
            entity.score, abs=1e-5
        )


def test_long_ner_text_is_windowed_like_predict(ner_model: Path) -> None:
    """max_length is 16 in the tiny config: the text needs several windows, every entity is
    explained inside the window that predicts it, and its words outside it have no score."""
    predictor = sharpened(ner_model, seed=1)
    text = " ".join([TEXT] * 4)
    explainer = Explainer(predictor, "grad-x-input")
    [layout] = explainer.layouts([text])
    assert len(layout.windows) > 1
    [entities] = predictor.predict_text([text])
    assert len(layout.targets) == len(entities) >= 1
    [explained] = Explainer(predictor, "grad-x-input").explain([text])
    assert any("windows" in note for note in explained.notes)
    for (windows, target), t in zip(layout.targets, explained.targets, strict=True):
        assert t.entity is not None
        if len(target.positions or []) == len(t.entity["text"].split()):
            p = explainer.probability(layout, windows, target)
            assert p == pytest.approx(t.probability, abs=1e-5)
        else:  # an entity that runs past its window is read there only, and says so
            assert any("runs past the window" in note for note in explained.notes)
        seen = {w for w in layout.windows[windows[0]].word_of if w >= 0}
        assert {k for k, w in enumerate(t.words) if w.score is not None} == seen
        assert len(seen) < len(layout.spans)


def test_long_classification_text_reads_every_window(cls_model: Path) -> None:
    predictor = sharpened(cls_model, seed=2)
    text = " ".join([TEXT] * 3)
    explainer = Explainer(predictor, "ig")
    [layout] = explainer.layouts([text])
    windows, target = layout.targets[0]
    assert len(windows) == len(layout.windows) > 1
    [pred] = predictor.predict_text([text])
    assert explainer.probability(layout, windows, target) == pytest.approx(
        pred.probs[target.label], abs=1e-5
    )
    result = explainer.attribute(layout, windows, target)
    assert all(s is not None for s in result.scores)  # the windows cover every word
    gap = (result.logit or 0) - (result.baseline_logit or 0)
    # the windows' mean keeps completeness: scores sum to the mean logit gap, up to the mean
    # of the windows' convergence deltas
    assert sum(s or 0 for s in result.scores) - gap == pytest.approx(result.delta, abs=1e-4)
    assert abs(result.delta or 0) < 0.1 * abs(gap)


def test_a_label_that_is_not_predicted_can_be_explained(cls_model: Path) -> None:
    predictor = load_artifact(cls_model)
    [pred] = predictor.predict_text([TEXT])
    other = next(lab for lab in predictor.meta.labels if lab not in pred.labels)
    [explained] = Explainer(predictor).explain([TEXT], [other])
    assert [t.label for t in explained.targets] == [other]
    assert explained.targets[0].probability == pytest.approx(pred.probs[other], abs=1e-5)


def test_bad_inputs_are_refused_with_the_fix(
    ner_model: Path, cls_model: Path, tiny_backbone: Path, tmp_path: Path
) -> None:
    cls = Explainer(load_artifact(cls_model))
    with pytest.raises(ConfigError, match="no label 'angry'") as e:
        cls.explain([TEXT], ["angry"])
    assert e.value.fix and "neg" in e.value.fix
    with pytest.raises(ConfigError, match="no entity type 'B-person'"):
        Explainer(load_artifact(ner_model)).explain([TEXT], ["B-person"])
    for empty in ("", "   \n"):
        with pytest.raises(DataError, match="empty"):
            cls.explain([TEXT, empty])
    with pytest.raises(ConfigError, match="unknown attribution method 'shap'"):
        Explainer(load_artifact(cls_model), "shap")
    with pytest.raises(ArtifactError, match="without a task head"):
        load_explainable(tiny_backbone)
    graph = tmp_path / "model.onnx"
    graph.write_bytes(b"\x08\x07")
    with pytest.raises(ArtifactError, match="onnxruntime, which computes no gradients"):
        load_explainable(graph)


def test_an_onnx_predictor_is_refused_with_the_reason(ner_model: Path) -> None:
    from cotune.export.runtime import OnnxTaskModel

    onnx_like = replace(load_artifact(ner_model), model=object.__new__(OnnxTaskModel))
    with pytest.raises(ArtifactError, match="ONNX graph .*no gradients"):
        Explainer(onnx_like)


def test_private_copy_shares_weights_and_leaves_no_hooks(cls_model: Path) -> None:
    predictor = load_artifact(cls_model)
    explainer = Explainer(predictor, "ig", private=True)
    assert explainer.model is not predictor.model
    mine = dict(explainer.model.named_parameters())
    for name, p in predictor.model.named_parameters():
        assert mine[name] is p
    explainer.explain([TEXT])
    embeddings = predictor.model.get_input_embeddings()
    assert not embeddings._forward_hooks and not embeddings._forward_pre_hooks


def test_faithfulness_matches_a_direct_reprediction(cls_model: Path) -> None:
    """Removing the top word through the bench's code gives the probability `predict` gives
    on the text typed without that word (a reference computation)."""
    predictor = sharpened(cls_model, seed=4)
    text = "john visited paris with apple today"
    explainer = Explainer(predictor, "occlusion")
    [layout] = explainer.layouts([text])
    windows, target = layout.targets[0]
    scores = explainer.attribute(layout, windows, target).scores
    record = explainer.faithfulness(layout, windows, target, scores)
    assert record is not None
    top = rank_words(scores)[0]
    words = layout.words
    without = " ".join(w for k, w in enumerate(words) if k != top)
    only = words[top]
    [p_without, p_only, p_full] = predictor.predict_text([without, only, text])
    assert record.p_full == pytest.approx(p_full.probs[target.label], abs=1e-5)
    assert record.p_without[0] == pytest.approx(p_without.probs[target.label], abs=1e-5)
    assert record.p_only[0] == pytest.approx(p_only.probs[target.label], abs=1e-5)
    assert record.comprehensiveness == pytest.approx(
        sum(record.p_full - p for p in record.p_without) / len(FRACTIONS)
    )


def test_top_k_counts_and_ranking() -> None:
    assert top_k_counts(12) == [1, 1, 2, 3, 6]
    assert top_k_counts(200) == [2, 10, 20, 40, 100]
    assert top_k_counts(1) == [1, 1, 1, 1, 1]
    assert rank_words([0.1, None, 0.5, -0.2, 0.5]) == [2, 4, 0, 3]
