"""Student builders: the teacher with a subset of its layers, or a catalog backbone.

Token-level soft targets only line up when teacher and student cut text into the same
sub-tokens, so a student whose tokenizer differs from the teacher's is refused
(`check_same_tokenizer`) rather than trained on silently mis-aligned targets.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from torch import nn

from cotune.errors import ConfigError


def encoder_layers(model: nn.Module) -> Any:
    """The transformer blocks (an `nn.ModuleList`) of a BERT-family `*For*Classification` model;
    typed Any because each block's sub-modules are reached by their BERT attribute names."""
    base = getattr(model, "base_model", model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(
            f"{type(model).__name__} has no encoder.layer list to pick student layers from",
            where="distill.layers",
            fix="use a BERT-family teacher, or a catalog student (model.backbone)",
        )
    return layers


def layer_subset_student(teacher: nn.Module, layers: Sequence[int]) -> nn.Module:
    """A copy of `teacher` keeping only `layers` (embeddings and head copied as they are)."""
    blocks = encoder_layers(teacher)
    n = len(blocks)
    bad = [i for i in layers if not 0 <= i < n]
    if bad:
        raise ConfigError(
            f"the teacher has {n} layers (0..{n - 1}); {bad} do not exist",
            where="distill.layers",
            fix=f"pick layer indices in 0..{n - 1}",
        )
    student: Any = copy.deepcopy(teacher)
    base: Any = getattr(student, "base_model", student)
    base.encoder.layer = nn.ModuleList([base.encoder.layer[i] for i in layers])
    for new_index, block in enumerate(base.encoder.layer):
        attn = getattr(getattr(block, "attention", None), "self", None)
        if attn is not None and hasattr(attn, "layer_idx"):
            attn.layer_idx = new_index
    student.config.num_hidden_layers = len(layers)
    student.train()
    return student


def uniform_mapping(student_layers: int, teacher_layers: int) -> list[int]:
    """Teacher layer whose output student layer i imitates: evenly spaced, last to last."""
    return [round((i + 1) * teacher_layers / student_layers) - 1 for i in range(student_layers)]


def check_same_tokenizer(teacher: Any, student: Any, *, student_name: str) -> None:
    """Refuse a student whose tokenizer would split text differently from the teacher's."""
    probe = ["Cotune checks tokenizers: naïve café in São Paulo, 2026!", "UNSEEN-word xyzzy"]
    same_vocab = teacher.get_vocab() == student.get_vocab()
    same_split = same_vocab and all(
        teacher(t)["input_ids"] == student(t)["input_ids"] for t in probe
    )
    if not same_split:
        raise ConfigError(
            f"the student {student_name!r} does not share the teacher's tokenizer "
            f"(vocabulary of {len(student.get_vocab())} vs {len(teacher.get_vocab())} entries"
            f"{'' if not same_vocab else ', same vocabulary but different splits'}); "
            "token-level soft targets would be mis-aligned",
            where="model.backbone",
            fix="pick a student with the teacher's tokenizer (e.g. minilm-l3 for a minilm-l6 "
            "teacher), or distill.layers to cut the teacher down",
        )
