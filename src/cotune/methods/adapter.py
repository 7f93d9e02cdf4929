"""Bottleneck adapters (Houlsby et al. 2019), written here: peft 0.21 has none.

Each encoder layer gets two adapters, one on the attention output projection and one on the FFN
output projection, applied to the projection's output before the residual + LayerNorm:

    h -> h + U act(D h)        D: hidden -> size, U: size -> hidden, U zero-initialised

so training starts exactly at the base model. The adapters, the LayerNorms (trained too, as in
the paper) and the task head are saved as one small safetensors file plus a JSON config.

Merging: a nonlinear bottleneck cannot be folded into a weight matrix. With `activation:
identity` the adapter is linear, h + U(D h + d) + u = (I + U D) h + U d + u, and folds exactly into
the projection it follows: W' = (I + U D) W, b' = (I + U D) b + U d + u.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from safetensors.torch import load_file, save_file
from torch import nn

from cotune.errors import ArtifactError
from cotune.methods.catalog import Method, MethodOptions, register
from cotune.methods.targets import fresh_modules, layout_of, resolve_targets

CONFIG_FILE = "bottleneck_adapter.json"
WEIGHTS_FILE = "bottleneck_adapter.safetensors"
FORMAT = "cotune-bottleneck-adapter"

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}


class AdapterOptions(MethodOptions):
    size: int = Field(64, ge=1, description="Bottleneck width (Houlsby et al. used 8 to 256).")
    activation: Literal["gelu", "relu", "tanh", "identity"] = Field(
        "gelu",
        description="Nonlinearity inside the bottleneck; identity makes the adapter linear, so "
        "`cotune merge` can fold it into the base weights exactly.",
    )
    placement: Literal["both", "attention", "ffn"] = Field(
        "both", description="After the attention output, the FFN output, or both (Houlsby)."
    )
    train_layer_norms: bool = Field(True, description="Train the LayerNorms too (Houlsby).")


class BottleneckAdapter(nn.Module):
    """h -> h + up(act(down(h))), starting as the identity."""

    def __init__(self, hidden: int, size: int, activation: str) -> None:
        super().__init__()
        self.down = nn.Linear(hidden, size)
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Linear(size, hidden)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = h + self.up(self.act(self.down(h)))
        return out


class AdaptedLinear(nn.Module):
    """A frozen projection (`base_layer`, named as peft names it) with an adapter on its output."""

    def __init__(self, base_layer: nn.Linear, adapter: BottleneckAdapter) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.adapter(self.base_layer(x))
        return out

    @torch.no_grad()
    def folded(self) -> nn.Linear:
        """The exact equivalent Linear; only for a linear (identity-activation) adapter."""
        if not isinstance(self.adapter.act, nn.Identity):
            raise ValueError("only a linear adapter folds into its projection")
        base, down, up = self.base_layer, self.adapter.down, self.adapter.up
        w, b = base.weight.double(), base.bias.double() if base.bias is not None else None
        m = torch.eye(w.shape[0], dtype=torch.float64) + up.weight.double() @ down.weight.double()
        shift = up.weight.double() @ down.bias.double() + up.bias.double()
        out = nn.Linear(base.in_features, base.out_features, bias=True)
        out.weight.copy_(m @ w)
        out.bias.copy_((m @ b if b is not None else 0) + shift)
        return out.to(base.weight.dtype)


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def apply(model: Any, options: AdapterOptions) -> nn.Module:
    """Wrap the target projections, set what trains, and keep the options for `save`."""
    layout = layout_of(model, "placement")
    names = {
        "both": [layout.attention_out, layout.ffn_out],
        "attention": [layout.attention_out],
        "ffn": [layout.ffn_out],
    }[options.placement]
    targets = resolve_targets(model, names, "placement")
    head = fresh_modules(model)
    for p in model.parameters():
        p.requires_grad_(False)
    for name in targets.modules:
        base = model.get_submodule(name)
        adapter = BottleneckAdapter(base.out_features, options.size, options.activation)
        _set_module(model, name, AdaptedLinear(base, adapter))
    for name, module in model.named_modules():
        trains = isinstance(module, BottleneckAdapter) or name in head
        trains = trains or (options.train_layer_norms and isinstance(module, nn.LayerNorm))
        if trains:
            for p in module.parameters():
                p.requires_grad_(True)
    model.cotune_adapter_options = options.model_dump()
    return model


def save(model: Any, folder: Path) -> None:
    # trainable = adapters, LayerNorms, head: everything that differs from the base model
    tensors = {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    save_file(tensors, str(folder / WEIGHTS_FILE))
    config = {
        "format": FORMAT,
        "version": 1,
        "options": model.cotune_adapter_options,
        "base_model_name_or_path": str(getattr(model, "name_or_path", "")),
        "tensors": sorted(tensors),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")


def load(folder: Path, build_base: Callable[[], Any]) -> Any:
    path = folder / CONFIG_FILE
    if not path.exists() or not (folder / WEIGHTS_FILE).exists():
        raise ArtifactError(
            f"{folder} lacks {CONFIG_FILE} or {WEIGHTS_FILE}: the adapter is missing",
            fix="point at a complete artifact folder written by `cotune train`",
        )
    config = json.loads(path.read_text(encoding="utf-8"))
    if config.get("format") != FORMAT or config.get("version", 0) > 1:
        raise ArtifactError(f"{path}: not a bottleneck adapter this cotune understands")
    model = apply(build_base(), AdapterOptions(**config["options"]))
    tensors = load_file(str(folder / WEIGHTS_FILE))
    _, unexpected = model.load_state_dict(tensors, strict=False)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    if unexpected or trained - set(tensors):
        raise ArtifactError(
            f"{folder / WEIGHTS_FILE} does not fit the model: unexpected {sorted(unexpected)[:5]}, "
            f"missing {sorted(trained - set(tensors))[:5]}",
            fix="load it with the cotune version and backbone it was trained with",
        )
    return model


def merge(model: Any, options: AdapterOptions) -> nn.Module:
    if options.activation != "identity":
        raise ArtifactError(
            f"a bottleneck adapter with activation {options.activation!r} cannot be merged: it "
            f"computes h + U {options.activation}(D h), and the nonlinearity between D and U "
            "means no weight matrix equals it, so folding would change the outputs",
            fix="ship the adapter artifact as it is, or train with method.activation: identity "
            "(a linear adapter, which folds exactly)",
        )
    for name, module in list(model.named_modules()):
        if isinstance(module, AdaptedLinear):
            _set_module(model, name, module.folded())
    if hasattr(model, "cotune_adapter_options"):
        del model.cotune_adapter_options
    for p in model.parameters():
        p.requires_grad_(False)
    merged: nn.Module = model
    return merged


register(
    Method(
        "adapter",
        "Houlsby bottleneck adapters after attention and FFN outputs; mergeable only when linear.",
        AdapterOptions,
        apply,
        save=save,
        load=load,
        mergeable=False,
        merge=merge,
    )
)
