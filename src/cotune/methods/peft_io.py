"""Shared glue for the methods peft implements (LoRA, AdaLoRA, IA3, prefix tuning).

The artifact folder is itself a peft adapter folder (adapter_config.json +
adapter_model.safetensors, task head included via `modules_to_save`), so
`peft.PeftModel.from_pretrained(base, FOLDER)` loads it as well as cotune does.

peft is imported inside the functions: it costs seconds at import, and most commands (config
checks, `cotune data ...`) never need it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from safetensors import safe_open
from torch import nn

from cotune.errors import ArtifactError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def task_type(model: Any) -> Any:
    """peft's TaskType for a task model: it picks the PeftModel class and its forward."""
    from peft import TaskType

    name = type(model).__name__
    if name.endswith("ForTokenClassification"):
        return TaskType.TOKEN_CLS
    if name.endswith("ForSequenceClassification"):
        return TaskType.SEQ_CLS
    raise ValueError(f"{name}: cotune's peft methods take token or sequence classifiers")


def wrap(model: Any, config: Any) -> Any:
    """`get_peft_model`, then check that every head module is trained whole, never adapted."""
    from peft import get_peft_model
    from peft.tuners.tuners_utils import BaseTunerLayer

    peft_model = get_peft_model(model, config)
    head = set(config.modules_to_save or [])
    for name, module in peft_model.named_modules():
        if isinstance(module, BaseTunerLayer) and any(f".{h}." in f".{name}." for h in head):
            raise AssertionError(f"an adapter landed on the task head module {name}")
    return peft_model


def save(model: Any, folder: Path) -> None:
    model.save_pretrained(folder, safe_serialization=True)
    # peft writes a template model card; the artifact writer puts cotune's card in its place
    (folder / "README.md").unlink(missing_ok=True)
    check_head_saved(model, folder)


def check_head_saved(model: Any, folder: Path) -> None:
    """Fail loudly if the task head did not make it into the adapter (peft issues 310/1070)."""
    from peft.utils.other import ModulesToSaveWrapper

    head = [
        name.removeprefix("base_model.model.").removeprefix("base_model.")
        for name, module in model.named_modules()
        if isinstance(module, ModulesToSaveWrapper)
    ]
    with safe_open(str(folder / ADAPTER_WEIGHTS), framework="pt") as f:
        keys = [f".{k}" for k in f.keys()]  # noqa: SIM118 (safe_open is not iterable)
    missing = [h for h in head if not any(f".{h}." in k for k in keys)]
    if not head or missing:
        raise ArtifactError(
            f"the adapter in {folder} lacks the task head {missing or '(none wrapped)'}",
            fix="report this: the head must be listed in modules_to_save",
        )


def load(folder: Path, build_base: Callable[[], Any]) -> Any:
    from peft import PeftModel

    if not (folder / ADAPTER_CONFIG).exists():
        raise ArtifactError(
            f"{folder} has no {ADAPTER_CONFIG}: the adapter is missing",
            fix="point at a complete artifact folder written by `cotune train`",
        )
    return PeftModel.from_pretrained(build_base(), folder)


def merge(model: Any, options: Any) -> nn.Module:
    """Fold the adapter into the base weights; the head comes out as a plain module."""
    merged: nn.Module = model.merge_and_unload()
    return merged
