"""Continual fine-tuning: warm start, head growth, replay, L2-SP/EWC, lineage in the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cotune.artifact import load_artifact
from cotune.cli.main import app
from cotune.config.continual import ContinualConfig
from cotune.config.schema import RunConfig
from cotune.errors import ConfigError, DataError
from cotune.recipes.continual import grow_head
from cotune.recipes.finetune import finetune
from cotune.training.anchors import AnchorPenalty, diagonal_fisher, snapshot

from .helpers import CLS, NER, tiny_config

TEXTS = ["a great film", "bad movie , awful", "she loves the film", "we hates that film"]


def probs(folder: Path) -> torch.Tensor:
    p = load_artifact(folder)
    return torch.tensor([[s.probs[lab] for lab in p.meta.labels] for s in p.predict_text(TEXTS)])


def child_config(
    backbone: Path, out: Path, parent: Path, data: Path = CLS, task: str = "cls", **continual
) -> RunConfig:
    cfg = tiny_config(backbone, out, task, epochs=1)
    cfg.data = cfg.data.model_copy(update={"train": data, "dev": data, "test": data})
    cfg.continual = ContinualConfig(parent=parent, **continual)
    return cfg


@pytest.fixture(scope="module")
def parent(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("parent"), "cls", epochs=8, lr=5e-3)
    cfg.continual = ContinualConfig(keep_replay=5, store_fisher=True)
    return finetune(cfg, progress=False)


def test_warm_start_begins_at_the_parent_and_records_it(
    tiny_backbone: Path, parent: Path, tmp_path: Path
) -> None:
    cfg = child_config(tiny_backbone, tmp_path, parent)
    cfg.train = cfg.train.model_copy(update={"lr": 1e-12, "max_steps": 1})
    child = finetune(cfg, progress=False)
    # a step of lr 1e-12 leaves the parent's weights: same predictions, head included
    assert torch.allclose(probs(child), probs(parent), atol=1e-5)
    fresh = tiny_config(tiny_backbone, tmp_path / "fresh", "cls", lr=1e-12, max_steps=1)
    assert not torch.allclose(probs(finetune(fresh, progress=False)), probs(parent), atol=1e-3)
    meta = json.loads((child / "cotune.json").read_text())
    assert meta["extra"]["parent"]["path"] == str(parent.resolve())
    card = (child / "README.md").read_text()
    assert "## Lineage" in card and str(parent.resolve()) in card


def test_unknown_labels_are_refused_unless_the_head_grows(
    tiny_backbone: Path, parent: Path, tmp_path: Path
) -> None:
    data = tmp_path / "three.jsonl"
    rows = [json.loads(line) for line in CLS.read_text().splitlines()]
    rows += [{"text": "fine film today", "label": "neutral"}] * 4
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match="'neutral'") as err:
        finetune(child_config(tiny_backbone, tmp_path, parent, data), progress=False)
    assert "grow_head" in (err.value.fix or "")
    assert not (tmp_path / "three-full").exists()  # nothing left behind
    child = finetune(
        child_config(tiny_backbone, tmp_path, parent, data, grow_head=True), progress=False
    )
    grown = load_artifact(child)
    assert grown.meta.labels == ["neg", "pos", "neutral"]  # parent's ids kept, new one last
    assert grown.meta.extra["continual"]["added_labels"] == ["neutral"]


def test_grown_head_keeps_old_logits(parent: Path) -> None:
    model = load_artifact(parent).model
    batch = load_artifact(parent).tokenizer(TEXTS, padding=True, return_tensors="pt")
    before = model(**batch).logits.detach()
    grow_head(model, ["neg", "pos"], ["neg", "pos", "mixed", "other"])
    after = model(**batch).logits.detach()
    assert after.shape[-1] == 4 and torch.allclose(after[:, :2], before, atol=1e-6)
    assert model.config.id2label[3] == "other"


def test_ner_head_grows_by_entity_type(tiny_backbone: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.conll"
    keep = {"person", "geo-loc"}
    lines = []
    for line in NER.read_text().splitlines():
        tok, _, tag = line.partition("\t")
        lines.append(f"{tok}\t{'O' if tag[2:] and tag[2:] not in keep else tag}" if tag else line)
    first.write_text("\n".join(lines) + "\n")
    cfg = tiny_config(tiny_backbone, tmp_path / "p", "ner", epochs=1)
    cfg.data = cfg.data.model_copy(update={"train": first, "dev": first, "test": first})
    ner_parent = finetune(cfg, progress=False)
    child = finetune(
        child_config(tiny_backbone, tmp_path / "c", ner_parent, NER, "ner", grow_head=True),
        progress=False,
    )
    labels = load_artifact(child).meta.labels
    assert labels[:5] == load_artifact(ner_parent).meta.labels
    assert {"B-company", "I-company"} <= set(labels[5:])


def test_task_mismatch_is_refused(tiny_backbone: Path, parent: Path, tmp_path: Path) -> None:
    cfg = child_config(tiny_backbone, tmp_path, parent, NER, "ner")
    with pytest.raises(ConfigError, match="sequence-classification model"):
        finetune(cfg, progress=False)


def test_penalty_gradient_is_the_gradient_of_the_penalty(parent: Path) -> None:
    model = load_artifact(parent).model
    anchor = snapshot(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    fisher = {k: torch.rand_like(v) for k, v in anchor.items()}
    for importance in (None, fisher):
        cb = AnchorPenalty(anchor, 0.3, importance).bind(model)
        model.zero_grad()
        cb.on_before_step(None, model)
        got = {n: p.grad.clone() for n, p in model.named_parameters()}
        # reference: autograd through the penalty written out
        model.zero_grad()
        total = sum(
            ((p - anchor[n]) ** 2 * (1 if importance is None else importance[n])).sum()
            for n, p in model.named_parameters()
        )
        (0.15 * total).backward()
        for n, p in model.named_parameters():
            assert torch.allclose(got[n], p.grad, atol=1e-6), n
        assert cb.penalty() == pytest.approx(float(0.15 * total.detach()), rel=1e-4)


def test_fisher_is_per_example_and_normalised(parent: Path) -> None:
    p = load_artifact(parent)
    from cotune.data.examples import TextExample

    feats = p.task.encode([TextExample(t, ["pos"]) for t in TEXTS])
    fisher = diagonal_fisher(p.model, feats, p.task.collate, seed=0)
    entries = torch.cat([v.flatten() for v in fisher.values()])
    assert float(entries.mean()) == pytest.approx(1.0, rel=1e-5) and float(entries.min()) >= 0
    # rows of words the texts never use get no information
    emb = fisher["bert.embeddings.word_embeddings.weight"]
    used = set(p.tokenizer(TEXTS)["input_ids"][0])
    unused = [i for i in range(emb.shape[0]) if i not in used]
    assert float(emb[unused].abs().sum()) < float(emb.abs().sum())


def test_stronger_l2sp_stays_closer_to_the_parent(
    tiny_backbone: Path, parent: Path, tmp_path: Path
) -> None:
    def distance(strength: float, penalty: str) -> float:
        cfg = child_config(tiny_backbone, tmp_path / f"{penalty}{strength}", parent)
        cfg.continual = cfg.continual.model_copy(update={"penalty": penalty, "strength": strength})
        cfg.train = cfg.train.model_copy(update={"lr": 5e-3, "epochs": 3})
        child = load_artifact(finetune(cfg, progress=False)).model
        base = load_artifact(parent).model
        ref = dict(base.named_parameters())
        return sum(float(((q - ref[n]) ** 2).sum().detach()) for n, q in child.named_parameters())

    assert distance(50.0, "l2sp") < 0.5 * distance(0.0, "l2sp")
    # EWC pulls hard only where the parent's Fisher is large (here mostly the head)
    assert distance(50.0, "ewc") < 0.8 * distance(0.0, "ewc")


def test_ewc_uses_the_parents_stored_fisher_and_replay_its_reservoir(
    tiny_backbone: Path, parent: Path, tmp_path: Path
) -> None:
    assert (parent / "fisher.safetensors").is_file()
    assert len((parent / "replay.jsonl").read_text().splitlines()) == 5
    cfg = child_config(tiny_backbone, tmp_path, parent, penalty="ewc", replay={"size": 3})
    cfg.continual = cfg.continual.model_copy(update={"keep_replay": 8})
    child = load_artifact(finetune(cfg, progress=False))
    record = child.meta.extra["continual"]
    assert record["fisher"].startswith("stored in") and record["replayed_examples"] == 3
    assert record["anchored_tensors"] > 10
    # the reservoir continues over both periods: 12 + 12 examples seen, 8 kept
    assert child.meta.extra["replay"] == {"file": "replay.jsonl", "size": 8, "seen": 24}


def test_replay_from_a_named_source(tiny_backbone: Path, parent: Path, tmp_path: Path) -> None:
    cfg = child_config(tiny_backbone, tmp_path, parent, replay={"source": str(CLS), "size": 4})
    child = load_artifact(finetune(cfg, progress=False))
    assert child.meta.extra["continual"]["replayed_examples"] == 4
    metrics = json.loads((child.folder / "metrics.json").read_text())
    assert metrics["training"]["train_examples"] == 16


def test_adapter_parent_gets_a_new_adapter_and_a_merged_artifact(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(tiny_backbone, tmp_path / "p", "cls", epochs=3, lr=5e-3)
    cfg.method = cfg.method.model_validate({"name": "lora", "r": 4})
    lora_parent = finetune(cfg, progress=False)
    child_cfg = child_config(tiny_backbone, tmp_path / "c", lora_parent)
    child_cfg.method = cfg.method
    child_cfg.train = child_cfg.train.model_copy(update={"lr": 1e-12, "max_steps": 1})
    child = finetune(child_cfg, progress=False)
    loaded = load_artifact(child)
    assert loaded.meta.method["merged"] is True and loaded.meta.method["name"] == "lora"
    assert torch.allclose(probs(child), probs(lora_parent), atol=1e-5)


def test_cli_from(tiny_backbone: Path, parent: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"task: sequence-classification\ndata: {{train: {CLS}, dev: {CLS}, test: {CLS}}}\n"
        f"model: {{backbone: {tiny_backbone}, max_length: 16}}\n"
        f"train: {{epochs: 1, batch_size: 4}}\noutput_dir: {tmp_path}\nname: child\n"
    )
    res = CliRunner().invoke(
        app, ["train", str(cfg), "--from", str(parent), "--continual.penalty", "l2sp", "-q"]
    )
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "child" / "cotune.json").read_text())
    assert meta["config"]["continual"]["penalty"] == "l2sp"
    assert meta["extra"]["parent"]["path"] == str(parent.resolve())
    res = CliRunner().invoke(app, ["train", str(cfg), "--continual.penalty", "ewc", "-q"])
    assert res.exit_code == 2 and "continual.parent" in res.output
