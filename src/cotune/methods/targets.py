"""Where adapters go and what travels with them: encoder-layer targets and the task head.

Two seams this module closes. LoRA put on the classifier (peft issue 2027): targets are resolved
only among the Linear layers *inside the encoder's layer list*, and handed to peft as a regex over
those layers, so no head or pooler can ever match. A saved adapter without its task head (peft
issues 310/1070): `fresh_modules` finds every module whose weights were not in the backbone
checkpoint (the head, and a pooler the checkpoint lacks, as minilm-l3's does) so it is trained and
saved with the adapter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from cotune.errors import ConfigError

_LAYER = re.compile(r"^(?P<prefix>.+\.layer)\.(?P<index>\d+)\.(?P<rel>.+)$")


@dataclass(frozen=True)
class Layout:
    """Layer-relative names of one encoder layer's Linear layers, per architecture family."""

    query: str
    key: str
    value: str
    attention_out: str
    ffn_in: str
    ffn_out: str

    @property
    def attention(self) -> list[str]:
        return [self.query, self.key, self.value]


_BERT = Layout(
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
LAYOUTS: dict[str, Layout] = {
    **dict.fromkeys(["bert", "roberta", "xlm-roberta", "electra", "camembert", "ernie"], _BERT),
    "distilbert": Layout(
        "attention.q_lin",
        "attention.k_lin",
        "attention.v_lin",
        "attention.out_lin",
        "ffn.lin1",
        "ffn.lin2",
    ),
    "deberta-v2": Layout(
        "attention.self.query_proj",
        "attention.self.key_proj",
        "attention.self.value_proj",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    ),
}


def layout_of(model: Any, option: str) -> Layout:
    """The architecture's layout; without one, the user must name the targets."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in LAYOUTS:
        raise ConfigError(
            f"no default {option} for architecture {model_type!r}",
            where=f"method.{option}",
            fix=f"set method.{option} to Linear layer names inside the encoder layers "
            f"(defaults exist for {sorted(LAYOUTS)})",
        )
    return LAYOUTS[model_type]


@dataclass(frozen=True)
class Targets:
    """Resolved targets: a regex peft full-matches against module names, and what it matches."""

    regex: str
    modules: list[str]  # full module names, e.g. bert.encoder.layer.0.attention.self.query
    relative: list[str]  # layer-relative names, e.g. attention.self.query


def encoder_linears(model: nn.Module) -> tuple[str, list[str]]:
    """(layer-list prefix, layer-relative names of the Linear layers inside each layer)."""
    prefixes: set[str] = set()
    relative: set[str] = set()
    for name, module in model.named_modules():
        match = _LAYER.match(name)
        if match and isinstance(module, nn.Linear) and ".base_layer" not in name:
            prefixes.add(match["prefix"])
            relative.add(match["rel"])
    if len(prefixes) != 1:
        raise ConfigError(
            f"{type(model).__name__}: expected one list of encoder layers, "
            f"found {sorted(prefixes)}",
            where="method",
            fix="use a BERT-family backbone or the full / freeze methods",
        )
    return prefixes.pop(), sorted(relative)


def resolve_targets(model: nn.Module, names: list[str], option: str) -> Targets:
    """Names -> the encoder-layer Linear layers they denote.

    A name equal to a layer-relative path (`output.dense`) means exactly that layer; otherwise it
    matches every layer-relative path it ends (`dense`: all three dense layers), as peft's own
    suffix matching does, but only inside the encoder layers.
    """
    prefix, available = encoder_linears(model)
    chosen: set[str] = set()
    for name in names:
        exact = [rel for rel in available if rel == name]
        hits = exact or [rel for rel in available if rel.endswith("." + name)]
        if not hits:
            raise ConfigError(
                f"method.{option}: {name!r} names no Linear layer inside the encoder layers "
                "(the task head is trained and saved whole, never adapted)",
                where=f"method.{option}",
                fix=f"use names from {available}",
            )
        chosen.update(hits)
    relative = sorted(chosen)
    regex = rf"{re.escape(prefix)}\.\d+\.(?:{'|'.join(re.escape(r) for r in relative)})"
    modules = [n for n, _ in model.named_modules() if re.fullmatch(regex, n)]
    return Targets(regex, modules, relative)


def _checkpoint_keys(backbone: Path) -> set[str] | None:
    """Tensor names in the backbone's weights (safetensors header only), or None if unreadable."""
    index = backbone / "model.safetensors.index.json"
    if index.exists():  # a sharded checkpoint names its tensors in the index
        return set(json.loads(index.read_text(encoding="utf-8"))["weight_map"])
    path = backbone / "model.safetensors"
    if not path.exists():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return set(f.keys())


def fresh_modules(model: Any) -> list[str]:
    """Modules whose weights the backbone checkpoint lacked: they are trained and saved whole.

    That is the task head, plus any part of the base the checkpoint did not carry (a pooler
    dropped by an ONNX import). Without a readable local checkpoint: every top-level module
    outside the base model (the head).
    """
    base_prefix = getattr(model, "base_model_prefix", "")
    keys = _checkpoint_keys(Path(str(getattr(model, "name_or_path", ""))))
    if keys is None:
        return [
            name
            for name, child in model.named_children()
            if name != base_prefix and any(True for _ in child.parameters())
        ]
    stripped = {k.removeprefix(base_prefix + ".") for k in keys}
    owners: set[str] = set()
    for name, _ in model.named_parameters():
        bare = name.removeprefix(base_prefix + ".")
        if bare not in stripped and name not in keys:
            owners.add(name.rsplit(".", 1)[0])
    # keep the shallowest owners: `classifier`, not also `classifier.something`
    return sorted(o for o in owners if not any(o.startswith(p + ".") for p in owners))
