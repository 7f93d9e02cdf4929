"""Vocabulary extension: old ids and rows untouched, unknown text becomes known, new rows start
from the pieces they replace, and the folder loads back with plain transformers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer, BertForMaskedLM
from typer.testing import CliRunner

from cotune.config.schema import RunConfig
from cotune.errors import ConfigError
from cotune.models.vocab import (
    LINEAGE_FILE,
    extend_backbone,
    greedy_pieces,
    read_lineage,
)

from .helpers import tiny_config

# characters the tiny fixture vocabulary lacks (it has 北京上海中国人民日报江泽民新华社记者李鹏好差很)
UNSEEN = "我们喜欢吃饭"
ZH = [
    "我们喜欢北京。",
    "我们喜欢吃饭。",
    "他们在上海吃饭。",
    "记者李鹏喜欢中国。",
    "我们很好。",
    "新华社记者在北京。",
] * 2


@pytest.fixture(scope="module")
def zh_extended(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ext") / "zh"
    extend_backbone(tiny_backbone, ZH, out, base_name="tiny", min_freq=2, seed=3)
    return out


def test_old_token_ids_and_embedding_rows_are_identical(
    tiny_backbone: Path, zh_extended: Path
) -> None:
    old_tok = AutoTokenizer.from_pretrained(tiny_backbone)
    new_tok = AutoTokenizer.from_pretrained(zh_extended)
    old_vocab, new_vocab = old_tok.get_vocab(), new_tok.get_vocab()
    assert all(new_vocab[t] == i for t, i in old_vocab.items())
    assert len(new_vocab) > len(old_vocab)
    assert min(i for t, i in new_vocab.items() if t not in old_vocab) == len(old_vocab)

    old_w, new_w = (
        load_file(tiny_backbone / "model.safetensors"),
        load_file(zh_extended / "model.safetensors"),
    )
    assert set(old_w) == set(new_w)  # nothing dropped (the pooler stays)
    key = "embeddings.word_embeddings.weight"
    assert torch.equal(new_w[key][: len(old_vocab)], old_w[key])
    assert new_w[key].shape[0] == len(new_vocab)
    assert all(torch.equal(old_w[k], new_w[k]) for k in old_w if k != key)
    # loads with plain transformers, at the new size
    model = AutoModel.from_pretrained(zh_extended)
    assert model.get_input_embeddings().weight.shape[0] == len(new_tok)


def test_an_all_unknown_sentence_tokenises_to_known_ids(
    tiny_backbone: Path, zh_extended: Path
) -> None:
    old_tok = AutoTokenizer.from_pretrained(tiny_backbone)
    before = old_tok(UNSEEN, add_special_tokens=False)["input_ids"]
    assert before == [old_tok.unk_token_id] * len(UNSEEN)

    new_tok = AutoTokenizer.from_pretrained(zh_extended)
    after = new_tok(UNSEEN, add_special_tokens=False)["input_ids"]
    assert new_tok.unk_token_id not in after
    assert new_tok.convert_ids_to_tokens(after) == list(UNSEEN)
    # real vocabulary entries, not "added tokens": vocab.txt and tokenizer.json agree
    spec = json.loads((zh_extended / "tokenizer.json").read_text(encoding="utf-8"))
    assert "我" in spec["model"]["vocab"]
    assert all(t["content"] != "我" for t in spec["added_tokens"])
    lines = (zh_extended / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert lines.index("我") == new_tok.convert_tokens_to_ids("我")


def test_lineage_records_the_extension_and_unknown_rates(zh_extended: Path) -> None:
    (step,) = read_lineage(zh_extended)
    assert step["kind"] == "vocab-extension" and step["mode"] == "chars"
    assert step["unk_rate_before"] > 0.3 and step["unk_rate_after"] == 0.0
    assert set(UNSEEN) <= set(step["added"])
    assert step["init_from_mean"] == len(step["added"])  # characters replace nothing
    doc = json.loads((zh_extended / LINEAGE_FILE).read_text(encoding="utf-8"))
    assert doc["root"]["name"] == "tiny"


def test_new_rows_start_from_the_pieces_they_replace(tiny_backbone: Path, tmp_path: Path) -> None:
    texts = ["john visited parisberlin today", "parisberlin is great", "we saw parisberlin"] * 4
    out = tmp_path / "wp"
    ext = extend_backbone(tiny_backbone, texts, out, mode="wordpieces", min_freq=3, seed=1)
    assert "parisberlin" in ext.added
    old_vocab = AutoTokenizer.from_pretrained(tiny_backbone).get_vocab()
    pieces = greedy_pieces("parisberlin", old_vocab, continuation=False)
    assert pieces is not None and len(pieces) > 1
    old = load_file(tiny_backbone / "model.safetensors")["embeddings.word_embeddings.weight"]
    new = load_file(out / "model.safetensors")["embeddings.word_embeddings.weight"]
    new_id = AutoTokenizer.from_pretrained(out).convert_tokens_to_ids("parisberlin")
    assert torch.allclose(new[new_id], old[pieces].mean(0), atol=1e-6)
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.tokenize("parisberlin") == ["parisberlin"]
    assert tok.tokenize("john visited paris") == ["john", "visited", "paris"]  # as before


def test_mean_rows_get_noise_so_new_characters_differ(zh_extended: Path) -> None:
    tok = AutoTokenizer.from_pretrained(zh_extended)
    emb = load_file(zh_extended / "model.safetensors")["embeddings.word_embeddings.weight"]
    ids = tok.convert_tokens_to_ids(list("我们喜"))
    old = emb[: ids[0]]
    rows = emb[ids]
    assert not torch.allclose(rows[0], rows[1])
    # close to the mean: within a few standard deviations of noise 0.1
    dist = (rows - old.mean(0)).abs() / old.std(0)
    assert float(dist.max()) < 0.6


def test_an_mlm_head_and_its_bias_are_extended(tiny_backbone: Path, tmp_path: Path) -> None:
    mlm = BertForMaskedLM.from_pretrained(tiny_backbone)
    base = tmp_path / "mlm"
    mlm.save_pretrained(base)
    AutoTokenizer.from_pretrained(tiny_backbone).save_pretrained(base)
    with torch.no_grad():
        mlm.cls.predictions.bias.add_(0.5)
    mlm.save_pretrained(base)
    out = tmp_path / "mlm-ext"
    ext = extend_backbone(base, ZH, out, min_freq=2)
    loaded = BertForMaskedLM.from_pretrained(out)
    bias = loaded.cls.predictions.bias.detach()
    assert bias.shape[0] == ext.new_vocab_size
    assert torch.equal(bias[: ext.old_vocab_size], mlm.cls.predictions.bias.detach())
    tied = loaded.cls.predictions.decoder.weight
    assert tied.shape[0] == ext.new_vocab_size


def test_greedy_pieces_match_the_tokenizer(tiny_backbone: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_backbone)
    vocab = tok.get_vocab()
    for word in ["paris", "visited", "parises", "zzq", "likes"]:
        ids = greedy_pieces(word, vocab, continuation=False)
        assert ids == tok(word, add_special_tokens=False)["input_ids"]


def test_refuses_an_existing_folder_and_non_wordpiece(tiny_backbone: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "x").write_text("keep")
    with pytest.raises(ConfigError, match="already exists"):
        extend_backbone(tiny_backbone, ZH, out)
    assert (out / "x").read_text() == "keep"
    with pytest.raises(ConfigError, match="no text"):
        extend_backbone(tiny_backbone, [], tmp_path / "p")


def test_cli_vocab_extend(tiny_backbone: Path, tmp_path: Path) -> None:
    from cotune.cli.main import app

    text = tmp_path / "zh.txt"
    text.write_text("\n".join(ZH), encoding="utf-8")
    out = tmp_path / "cli-ext"
    args = ["vocab", "extend", str(tiny_backbone), "--from", str(text), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--min-freq", "2", "--max-new", "5"])
    assert result.exit_code == 0, result.output
    assert "unknown-token rate" in result.output
    (step,) = read_lineage(out)
    assert len(step["added"]) == 5
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "vocabulary extension" in card and "zh.txt" in card
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_finetune_with_extend_vocab(
    tiny_backbone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cotune.artifact.load import load_artifact
    from cotune.recipes.finetune import finetune

    monkeypatch.setenv("COTUNE_CACHE", str(tmp_path / "cache"))  # the extended backbone goes here
    conll = tmp_path / "zh.conll"
    rows = []
    for s in ZH:
        tags = ["B-LOC" if c in "北上" else "I-LOC" if c in "京海" else "O" for c in s]
        rows.append("\n".join(f"{c}\t{t}" for c, t in zip(s, tags, strict=True)))
    conll.write_text("\n\n".join(rows) + "\n", encoding="utf-8")
    raw = tiny_config(tiny_backbone, tmp_path / "runs", max_steps=2).model_dump()
    raw["data"].update(train=conll, dev=conll, test=conll)
    raw["model"]["extend_vocab"] = {"min_freq": 2}
    cfg = RunConfig.model_validate(raw)
    out = finetune(cfg, progress=False)
    meta = json.loads((out / "cotune.json").read_text())
    assert meta["extra"]["unk_rate"] == 0.0
    predictor = load_artifact(out)
    assert predictor.tokenizer.unk_token_id not in predictor.tokenizer(UNSEEN)["input_ids"]
    assert len(predictor.predict_text([UNSEEN])) == 1

    lora = cfg.model_copy(update={"method": cfg.method.model_copy(update={"name": "lora"})})
    with pytest.raises(ConfigError, match="extend_vocab"):
        finetune(lora.model_copy(update={"name": "lora"}), progress=False)
