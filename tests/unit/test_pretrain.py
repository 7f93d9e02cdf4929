"""Continued masked-LM pre-training: masking units, the loss falls, exact resume, the output is a
backbone that transformers and a fine-tune accept, texts, configs and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer
from typer.testing import CliRunner

from cotune.config.pretrain import MlmConfig, PretrainConfig, load_pretrain_config
from cotune.data.texts import load_texts, texts_of_examples
from cotune.errors import ConfigError, DataError
from cotune.models.vocab import read_lineage
from cotune.recipes.pretrain import pretrain
from cotune.tasks.base import IGNORE
from cotune.training.mlm import MlmCollator, encode_texts
from tests.unit.helpers import flat

from .helpers import NER, Crash, CrashAt, tiny_config

ROOT = Path(__file__).resolve().parents[2]
PRETRAIN_CONFIGS = sorted((ROOT / "configs" / "pretrain").glob("*.yaml"))
EN_WORDS = ["the", "film", "was", "great", ".", "john", "visited", "paris", "and", "london"]
EN_WORDS += ["today", ".", "she", "loves", "the", "movie"]


def en_texts(n: int = 48) -> list[str]:
    """Deterministic English lines over the fixture vocabulary (some words split in pieces)."""
    out = []
    for i in range(n):
        words = [EN_WORDS[(i * 7 + k * 3) % len(EN_WORDS)] for k in range(6 + i % 5)]
        out.append(" ".join(words) + (" visiting" if i % 3 == 0 else ""))
    return out


ZH = ["北京人民日报记者李鹏在上海。", "新华社记者在北京很好。", "中国人民很好，上海很差。"] * 12


def config(tmp_path: Path, backbone: Path, source: Path, **train: Any) -> PretrainConfig:
    return PretrainConfig.model_validate(
        {
            "text": {"sources": [str(source)], "dev_texts": 6},
            "model": {"backbone": str(backbone), "max_length": 32},
            "train": {
                "epochs": 3,
                "batch_size": 8,
                "lr": 3e-3,
                "seed": 5,
                "warmup_ratio": 0.0,
                "eval_every": 4,
                **train,
            },
            "output_dir": str(tmp_path),
            "name": "mlm",
        }
    )


@pytest.fixture()
def en_file(tmp_path: Path) -> Path:
    path = tmp_path / "en.txt"
    path.write_text("\n".join(en_texts()) + "\n", encoding="utf-8")
    return path


def test_whole_words_are_masked_together(tiny_backbone: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_backbone)
    text = "visiting likes loved parises visited " * 3
    (feature,) = encode_texts([text], tok, 64)
    collate = MlmCollator(tok, MlmConfig(mask_prob=0.3))
    words = feature.word_index
    for seed in range(20):
        torch.manual_seed(seed)
        chosen = set(collate.choose(feature))
        assert chosen and 0 not in chosen and len(feature) - 1 not in chosen
        for w in {words[p] for p in chosen}:  # every piece of a chosen word is chosen
            assert {p for p, x in enumerate(words) if x == w} <= chosen
        assert len(chosen) <= round(0.3 * (len(feature) - 2))
    batch = collate([feature, feature])
    picked = batch["labels"] != IGNORE
    assert picked.any()
    originals = torch.tensor(feature.input_ids)
    assert torch.equal(batch["labels"][0][picked[0]], originals[picked[0]])
    assert (batch["input_ids"][~picked] == originals.repeat(2, 1)[~picked]).all()


def test_cjk_characters_are_masked_in_short_runs(tiny_backbone: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_backbone)
    (feature,) = encode_texts(["北京上海中国人民日报江泽民新华社记者李鹏"], tok, 64)
    span3 = MlmCollator(tok, MlmConfig(cjk_span=3, mask_prob=0.5))
    span1 = MlmCollator(tok, MlmConfig(cjk_span=1, mask_prob=0.5))
    lengths: set[int] = set()
    for seed in range(30):
        torch.manual_seed(seed)
        units = span3.units(feature)
        lengths |= {len(u) for u in units}
        assert all(u == list(range(u[0], u[0] + len(u))) for u in units)  # contiguous
        assert sorted(p for u in units for p in u) == list(range(1, len(feature) - 1))
        assert all(len(u) == 1 for u in span1.units(feature))
    assert lengths == {1, 2, 3}


def test_long_texts_are_cut_between_words(tiny_backbone: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_backbone)
    features = encode_texts([" ".join(["visiting"] * 20)], tok, 10)
    assert len(features) > 1 and all(len(f) <= 10 for f in features)
    first_piece = tok("visiting", add_special_tokens=False)["input_ids"][0]
    for f in features:  # every cut starts at a word
        assert f.word_index[1] == 0 and f.input_ids[1] == first_piece


def test_mlm_loss_falls_and_the_output_is_a_backbone(
    tiny_backbone: Path, tmp_path: Path, en_file: Path
) -> None:
    out = pretrain(config(tmp_path, tiny_backbone, en_file), progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["after"]["mlm_loss"] < metrics["before"]["mlm_loss"] - 0.5
    assert metrics["after"]["mlm_accuracy"] > metrics["before"]["mlm_accuracy"]
    assert metrics["training"]["steps"] == 18  # 48 texts - 6 held out = 42: 6 batches x 3 epochs
    assert not (out / "checkpoints").exists()
    # a backbone: plain transformers and a fine-tune accept it, the pooler survived
    weights = load_file(out / "model.safetensors")
    assert any(k.endswith("pooler.dense.weight") for k in weights)
    assert any(k.startswith("cls.predictions") for k in weights)
    AutoModel.from_pretrained(out)
    AutoModelForTokenClassification.from_pretrained(out, num_labels=3)
    (step,) = read_lineage(out)
    assert step["kind"] == "mlm-pretraining" and step["sources"][0]["name"] == "en.txt"
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "pre-training" in card and "en.txt" in card and "mlm_accuracy" in card
    assert (out / "training_curve.png").exists()


def test_killed_and_resumed_pretraining_ends_like_an_uninterrupted_one(
    tiny_backbone: Path, tmp_path: Path, en_file: Path
) -> None:
    cfg = config(tmp_path / "a", tiny_backbone, en_file, checkpoint_every=2, epochs=2)
    ref = pretrain(cfg, progress=False)
    cfg_b = cfg.model_copy(update={"output_dir": tmp_path / "b"})
    with pytest.raises(Crash):
        pretrain(cfg_b, progress=False, callbacks=[CrashAt(5)])
    out = cfg_b.output_dir / cfg_b.run_name()
    assert (out / "checkpoints").exists() and not (out / "model.safetensors").exists()
    with pytest.raises(ConfigError, match="unfinished"):
        from cotune.models.catalog import resolve_backbone

        resolve_backbone(str(out))
    resumed = pretrain(cfg_b, resume=True, progress=False)
    m_ref = json.loads((ref / "metrics.json").read_text())
    m_res = json.loads((resumed / "metrics.json").read_text())
    assert m_res["after"] == m_ref["after"]
    w_ref, w_res = load_file(ref / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(w_ref[k], w_res[k]) for k in w_ref)


def test_extend_then_pretrain_then_finetune(
    tiny_backbone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cotune.recipes.finetune import finetune

    monkeypatch.setenv("COTUNE_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "zh.txt"
    source.write_text("\n".join(ZH + ["我们喜欢吃饭。"] * 6) + "\n", encoding="utf-8")
    raw = config(tmp_path, tiny_backbone, source, max_steps=4).model_dump(mode="json")
    raw["model"]["extend_vocab"] = True
    raw["budget_minutes"] = 0.002
    out = pretrain(PretrainConfig.model_validate(raw), progress=False)
    steps = [s["kind"] for s in read_lineage(out)]
    assert steps == ["vocab-extension", "mlm-pretraining"]
    budget = json.loads((out / "budget.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["steps"] == budget["steps"] >= 1
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.unk_token_id not in tok("我们喜欢", add_special_tokens=False)["input_ids"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Step 1: vocabulary extension" in card and "Step 2: pre-training" in card

    run = tiny_config(out, tmp_path / "ft", max_steps=1)
    artifact = finetune(run, progress=False)
    assert json.loads((artifact / "metrics.json").read_text())["training"]["steps"] == 1


def test_texts_from_files_folders_and_labelled_data(tmp_path: Path) -> None:
    folder = tmp_path / "texts"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("one\n\ntwo\n", encoding="utf-8")
    (folder / "sub" / "b.txt").write_text("three\n", encoding="utf-8")
    texts = load_texts([str(folder)])
    assert texts.texts == ["one", "two", "three"] and len(texts.sources[0]["files"]) == 2
    train_only = load_texts([str(NER)])
    everything = load_texts([str(NER)], use="all")
    assert 0 < len(train_only.texts) < len(everything.texts)
    assert train_only.sources[0]["use"] == "train-split"
    with pytest.raises(DataError, match="neither a catalog source"):
        load_texts([str(tmp_path / "missing.txt")])


def test_character_level_corpora_are_joined_without_spaces() -> None:
    from cotune.data.examples import TokenExample

    zh = [TokenExample(list("北京很好"), ["O"] * 4)]
    en = [TokenExample(["john", "visited", "paris"], ["O"] * 3)]
    assert texts_of_examples(zh) == ["北京很好"]
    assert texts_of_examples(en) == ["john visited paris"]


def test_config_errors_name_the_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("text:\n  sources: [a.txt]\nmlm:\n  mask_prb: 0.2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"(?s)p.yaml:4.*mask_prb.*mask_prob"):
        load_pretrain_config(path)
    path.write_text("text:\n  sources: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="text.sources"):
        load_pretrain_config(path)
    path.write_text("text:\n  sources: [a.txt]\n", encoding="utf-8")
    cfg = load_pretrain_config(path, {"train.lr": 1e-3, "budget_minutes": 5})
    assert cfg.train.lr == 1e-3 and cfg.budget_minutes == 5
    assert cfg.train.epochs == 1  # pre-training's own defaults


@pytest.mark.parametrize("path", PRETRAIN_CONFIGS, ids=[p.stem for p in PRETRAIN_CONFIGS])
def test_shipped_pretrain_config_runs_a_step(
    path: Path, tiny_backbone: Path, tmp_path: Path
) -> None:
    cfg = load_pretrain_config(
        path,
        {
            "model.backbone": str(tiny_backbone),
            "model.max_length": 64,
            "text.limit": 24,
            "text.dev_texts": 4,
            "train.max_steps": 1,
            "train.batch_size": 4,
            "budget_minutes": None,
            "output_dir": str(tmp_path),
        },
    )
    out = pretrain(cfg, progress=False)
    assert json.loads((out / "metrics.json").read_text())["training"]["steps"] == 1


def test_cli_pretrain(tiny_backbone: Path, tmp_path: Path, en_file: Path) -> None:
    from cotune.cli.main import app

    path = tmp_path / "p.yaml"
    path.write_text(
        f"text:\n  sources: [{en_file.name}]\n  dev_texts: 4\nmodel:\n"
        f"  backbone: {tiny_backbone}\n  max_length: 32\n",
        encoding="utf-8",
    )
    args = ["pretrain", str(path), "--train.max_steps", "2", "--output_dir", str(tmp_path), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "held-out masked LM" in result.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "already holds a run" in flat(again.output)


def test_pretraining_is_tracked_like_a_fine_tune(
    tiny_backbone: Path, tmp_path: Path, en_file: Path
) -> None:
    from cotune.config.tracking import TrackingConfig
    from cotune.tracking.run import open_store

    root = str(tmp_path / "runs-jsonl")
    cfg = config(tmp_path, tiny_backbone, en_file, max_steps=8)
    cfg.tracking = TrackingConfig(backend="jsonl", uri=root)
    out = pretrain(cfg, progress=False)
    (run,) = open_store("jsonl", root).list_runs()
    assert run.status == "FINISHED" and run.tags["cotune.kind"] == "pretrain"
    assert run.tags["cotune.artifact_path"] == str(out.resolve())
    assert run.metrics["final_dev_mlm_loss"] < run.metrics["before_mlm_loss"]
    curve = open_store("jsonl", root).metric_history(run.run_id, "dev_mlm_loss")
    assert [s for s, _ in curve] == [4, 8]
