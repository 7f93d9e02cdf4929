"""ONNX -> BertModel import, checked against the PyTorch model that produced the graph.

Tiny BERTs are exported here with the TorchScript exporter inside a wrapper module, which gives the
graph the same naming as the shipped MiniLM-L3 file: a scope prefix on node names
(`/model/encoder/layer.0/attention/self/query/MatMul`), named biases and LayerNorms, and unnamed
`onnx::MatMul_*` weights.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizer

from cotune.models.onnx_import import (
    NotABertGraphError,
    import_bert_from_onnx,
    last_hidden_state_name,
    max_abs_diff_vs_onnxruntime,
    save_imported_backbone,
)
from tests.unit.helpers import TINY_BERT

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


class _Wrapper(nn.Module):
    """Nests the BertModel like sentence-transformers does; `pooled_only` mimics its export,
    whose graph outputs a mean-pooled embedding and keeps the hidden states internal."""

    def __init__(self, bert: BertModel, pooled_only: bool) -> None:
        super().__init__()
        self.model, self.pooled_only = bert, pooled_only

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        )
        if self.pooled_only:
            mask = attention_mask.unsqueeze(-1).float()
            return (out.last_hidden_state * mask).sum(1) / mask.sum(1)
        return out.last_hidden_state, out.pooler_output


def tiny_bert(perturb: bool = True, **overrides: Any) -> BertModel:
    """Random tiny BERT. `perturb` makes every bias and LayerNorm distinct, so a tensor placed in
    the wrong slot changes the output (default init has zero biases and unit LayerNorms)."""
    torch.manual_seed(0)
    model = BertModel(BertConfig(**{**TINY_BERT, **overrides})).eval()
    if perturb:
        with torch.no_grad():
            for param in model.parameters():
                param.add_(0.1 * torch.randn_like(param))
    return model


def export_tiny(model: BertModel, path: Path, pooled_only: bool = False) -> Path:
    ids = torch.randint(5, model.config.vocab_size, (2, 7))
    args = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    outputs = ["sentence_embedding"] if pooled_only else ["last_hidden_state", "pooler_output"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Wrapper(model, pooled_only).eval(),  # export restores the mode it found
            args,
            str(path),
            dynamo=False,
            input_names=INPUTS,
            output_names=outputs,
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in INPUTS},
            opset_version=17,
        )
    return path


def sample_batch(vocab_size: int = 100) -> dict[str, torch.Tensor]:
    """Padding in one row and both token types, so masks and type embeddings are exercised."""
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, vocab_size, (3, 11), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def test_exported_graph_has_the_shipped_naming(tmp_path: Path) -> None:
    graph = onnx.load(str(export_tiny(tiny_bert(), tmp_path / "tiny.onnx"))).graph
    nodes = {n.name: n for n in graph.node}
    inits = {t.name for t in graph.initializer}
    query = nodes["/model/encoder/layer.0/attention/self/query/MatMul"]
    assert query.input[1].startswith("onnx::MatMul_")
    assert "model.encoder.layer.0.attention.self.query.bias" in inits
    assert "model.encoder.layer.1.output.LayerNorm.weight" in inits
    assert "model.encoder.layer.0.attention.self.query.weight" not in inits


@pytest.mark.parametrize(
    "overrides",
    [{}, {"num_attention_heads": 2, "layer_norm_eps": 1e-7, "type_vocab_size": 3}],
)
def test_import_reproduces_weights_config_and_outputs(
    tmp_path: Path, overrides: dict[str, Any]
) -> None:
    original = tiny_bert(**overrides)
    path = export_tiny(original, tmp_path / "tiny.onnx")
    imported = import_bert_from_onnx(path)

    config = imported.config
    for key in [*TINY_BERT, *overrides]:
        assert getattr(config, key) == getattr(original.config, key), key
    assert config.hidden_act == "gelu"
    assert not imported.training
    theirs = original.state_dict()
    for key, value in imported.state_dict().items():
        assert torch.equal(value, theirs[key]), key
    assert max_abs_diff_vs_onnxruntime(imported, path, **sample_batch()) < 1e-5


def test_deduplicated_initializers_are_found_through_their_nodes(tmp_path: Path) -> None:
    # Default init: all biases zero, all LayerNorms one; the exporter keeps one copy of each.
    original = tiny_bert(perturb=False)
    path = export_tiny(original, tmp_path / "tiny.onnx")
    inits = {t.name for t in onnx.load(str(path)).graph.initializer}
    assert "model.encoder.layer.1.attention.self.key.bias" not in inits  # really deduplicated
    imported = import_bert_from_onnx(path)
    theirs = original.state_dict()
    for key, value in imported.state_dict().items():
        assert torch.equal(value, theirs[key]), key
    assert max_abs_diff_vs_onnxruntime(imported, path, **sample_batch()) < 1e-5


def test_sentence_transformers_style_graph_without_pooler(tmp_path: Path) -> None:
    path = export_tiny(tiny_bert(), tmp_path / "st.onnx", pooled_only=True)
    proto = onnx.load(str(path))
    hidden = last_hidden_state_name(proto)
    assert hidden not in {o.name for o in proto.graph.output}  # compared via an added output
    imported = import_bert_from_onnx(path)
    assert imported.pooler is None
    batch = sample_batch()
    assert max_abs_diff_vs_onnxruntime(imported, path, **batch) < 1e-5
    # A model that differs must show up: the comparison is not vacuous. (One entry only: a
    # shift of the whole bias would be cancelled by the LayerNorm that follows.)
    with torch.no_grad():
        imported.get_parameter("encoder.layer.1.output.dense.bias")[0] += 0.01
    assert max_abs_diff_vs_onnxruntime(imported, path, **batch) > 1e-3


def test_graph_that_is_not_bert_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "linear.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(nn.Linear(4, 2), (torch.ones(1, 4),), str(path), dynamo=False)
    with pytest.raises(ValueError, match=r"embeddings\.word_embeddings\.weight"):
        import_bert_from_onnx(path)


def test_missing_layer_tensor_is_named(tmp_path: Path) -> None:
    path = export_tiny(tiny_bert(), tmp_path / "tiny.onnx")
    proto = onnx.load(str(path))
    for node in proto.graph.node:
        if node.name == "/model/encoder/layer.1/output/dense/MatMul":
            node.name = "renamed"
    onnx.save(proto, str(path))
    with pytest.raises(NotABertGraphError, match=r"encoder\.layer\.1\.output\.dense\.weight"):
        import_bert_from_onnx(path)


def test_save_imported_backbone_loads_with_plain_transformers(tmp_path: Path) -> None:
    original = tiny_bert()
    path = export_tiny(original, tmp_path / "tiny.onnx")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"word{i}" for i in range(95)]
    tokenizer_dir = tmp_path / "tokenizer"
    BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(tokenizer_dir)
    out = save_imported_backbone(path, tmp_path / "backbones" / "tiny", tokenizer_dir)

    loaded = AutoModel.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert (out / "model.safetensors").exists()
    assert json.loads((out / "onnx_import.json").read_text())["source"] == "tiny.onnx"
    assert [p.name for p in out.parent.iterdir()] == ["tiny"]  # no temporary folder left
    batch = tokenizer(["word1 word7 word9", "word3"], padding=True, return_tensors="pt")
    with torch.no_grad():
        got = loaded(**batch).last_hidden_state
        want = original(**batch).last_hidden_state
    assert np.abs((got - want).numpy()).max() < 1e-6
    with pytest.raises(FileExistsError):
        save_imported_backbone(path, out, tokenizer_dir)
