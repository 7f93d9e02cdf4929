"""ONNX export of adapter artifacts (LoRA, bottleneck adapters), checked against PyTorch.

A LoRA artifact and a linear adapter fold exactly, so the graph is of the merged model; a
nonlinear bottleneck adapter folds into no weight matrix, so the graph is of the wrapped model
(export/folding.py). Either way the graph's logits must equal the *unmerged* PyTorch model's,
and differ from the base model's without the adapter (an export that dropped the adapter would
otherwise pass: a freshly trained adapter moves the logits only a little).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from cotune.artifact import load_artifact
from cotune.cli.main import app
from cotune.data.examples import TextExample, TokenExample
from cotune.export.folding import graph_model
from cotune.export.onnx import OnnxLogits
from cotune.export.pipeline import export_artifact
from cotune.export.runtime import FP32_FILE, INT8_FILE, ONNX_DIR, load_onnx_predictor
from cotune.methods.adapter import BottleneckAdapter
from cotune.recipes.finetune import finetune

from .helpers import tiny_config

CASES = [  # (task, method options, what is exported)
    ("cls", {"name": "lora", "r": 4}, "merged"),
    ("ner", {"name": "lora", "r": 4, "alpha": 16}, "merged"),
    ("cls", {"name": "adapter", "size": 8}, "wrapped"),
    ("ner", {"name": "adapter", "size": 8, "activation": "identity"}, "merged"),
]
TEXTS = ["john visited paris today .", "a great film", "mary likes apple and google in london"]


def _artifact(backbone: Path, out: Path, task: str, method: dict[str, Any]) -> Path:
    cfg = tiny_config(backbone, out, task, epochs=3, lr=2e-2)
    cfg = cfg.model_copy(update={"method": type(cfg.method).model_validate(method)})
    return finetune(cfg, progress=False)


def _examples(task: str) -> list[Any]:
    if task == "cls":
        return [TextExample(t, ["pos"]) for t in TEXTS]
    return [TokenExample(t.split(), ["O"] * len(t.split())) for t in TEXTS]


def _without_adapter(model: torch.nn.Module) -> torch.nn.Module:
    """A copy whose adapters add nothing: LoRA's B and the bottleneck's up-projection zeroed."""
    bare = copy.deepcopy(model)
    with torch.no_grad():
        for module in bare.modules():
            if isinstance(module, BottleneckAdapter):
                module.up.weight.zero_()
                module.up.bias.zero_()
            for b in getattr(module, "lora_B", {}).values():
                b.weight.zero_()
    return bare


def _logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> np.ndarray:
    with torch.no_grad():
        return model(**batch).logits.float().numpy()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("task", "method", "graph_of"), CASES, ids=lambda c: str(c))
def test_adapter_artifact_exports_with_parity(
    tiny_backbone: Path, tmp_path: Path, task: str, method: dict[str, Any], graph_of: str
) -> None:
    folder = _artifact(tiny_backbone, tmp_path, task, method)
    predictor = load_artifact(folder)
    before = {k: v.clone() for k, v in predictor.model.state_dict().items()}
    module, kind = graph_model(predictor)
    assert kind == graph_of and (module is predictor.model) == (kind == "wrapped")
    # merging works on a copy: the predictor still runs the adapter it loaded
    after = predictor.model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    report = export_artifact(folder)
    assert report.graph_of == graph_of

    batch = predictor.task.collate(predictor.task.encode(_examples(task)))
    batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    torch_logits = _logits(predictor.model, batch)
    graph = OnnxLogits(folder / ONNX_DIR / FP32_FILE)
    onnx_logits = graph(batch["input_ids"].numpy(), batch["attention_mask"].numpy())
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-5, rtol=1e-4)
    base = _logits(_without_adapter(predictor.model), batch)
    assert np.abs(base - torch_logits).max() > 1e-3, "the adapter changes nothing: test is blind"

    # cotune's ONNX predictor answers as the PyTorch one does
    texts = TEXTS if task == "cls" else [" ".join(t.split()) for t in TEXTS]
    by_onnx = load_onnx_predictor(folder, int8=False).predict_text(texts)
    by_torch = predictor.predict_text(texts)
    assert [repr(p) for p in by_onnx] == [repr(p) for p in by_torch] or all(
        _same(a, b) for a, b in zip(by_onnx, by_torch, strict=True)
    )
    record = json.loads((folder / "metrics.json").read_text())["export"]
    assert record["graph_of"] == graph_of and record["parity_max_abs_diff"]["fp32"] < 1e-4


def _same(a: Any, b: Any) -> bool:
    """Same labels (classification) or same entity spans (NER), scores within 1e-4."""
    if hasattr(a, "probs"):
        return bool(a.labels == b.labels) and all(
            abs(a.probs[k] - b.probs[k]) < 1e-4 for k in a.probs
        )
    return [(e.label, e.start, e.end) for e in a] == [(e.label, e.start, e.end) for e in b]


def test_merged_graph_is_the_plain_graph_and_int8_exports_from_the_cli(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    lora = _artifact(tiny_backbone, tmp_path / "lora", "cls", {"name": "lora", "r": 4})
    res = CliRunner().invoke(app, ["export", str(lora), "--quantize", "int8", "--force"])
    assert res.exit_code == 0, res.output
    assert (lora / ONNX_DIR / INT8_FILE).is_file()
    merged = onnx.load(str(lora / ONNX_DIR / FP32_FILE))
    # merged: no LoRA node is left in the graph
    assert not [n.name for n in merged.graph.node if "lora" in n.name.lower()]
    assert not [i.name for i in merged.graph.initializer if "lora" in i.name.lower()]
    wrapped_folder = _artifact(
        tiny_backbone, tmp_path / "ad", "cls", {"name": "adapter", "size": 8}
    )
    export_artifact(wrapped_folder)
    wrapped = onnx.load(str(wrapped_folder / ONNX_DIR / FP32_FILE))
    assert [n.name for n in wrapped.graph.node if "adapter" in n.name]  # the MLPs are in it
