"""Which module of an adapter artifact (LoRA, IA3, AdaLoRA, bottleneck adapter, prefix) is
exported to ONNX: the adapter merged into the base weights where that is exact, else the
wrapped model as it runs in PyTorch.

Why merge first where it can: the merged graph computes the same function (`cotune merge`
checks it to 1e-4; the export's parity check compares it with the *unmerged* model) and is the
graph of a plain fine-tuned model: no rank-r MatMuls or IA3 Muls per layer, so it runs faster,
and int8 quantizes W + BA as one matrix, with the Linear node names the smoothing and the
fp32-layer rungs of the int8 ladder look for. Prefix tuning and a nonlinear bottleneck adapter
fold into no weight matrix: their wrapped model is exported as it is (the extra key/value
prefixes and the adapter MLPs become graph nodes), which is exact too.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from torch import nn

from cotune.errors import ArtifactError
from cotune.methods import get_method

GraphOf = Literal["plain", "merged", "wrapped"]


def graph_model(predictor: Any) -> tuple[nn.Module, GraphOf]:
    """The module to export for `predictor`'s artifact and which kind it is. The predictor's own
    model is never changed: merging works on a copy."""
    meta = predictor.meta
    method = get_method(str(meta.method.get("name", "full")))
    if method.merge is None or meta.method.get("merged"):
        return predictor.model, "plain"
    options = method.parse(meta.method_options())
    try:
        merged = method.merged(copy.deepcopy(predictor.model), options)
    except ArtifactError:  # prefix tuning, a nonlinear adapter: no exact fold exists
        return predictor.model, "wrapped"
    return merged.eval(), "merged"
