"""The faster-loop levers of issue 28: AdamW kernels give the same update, and frozen word
embeddings stay exactly as loaded while the rest trains."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file

from cotune.recipes.finetune import finetune
from cotune.training.optim import adamw_kernel

from .helpers import tiny_config


def test_adamw_kernels_give_the_same_weights(tiny_backbone: Path, tmp_path: Path) -> None:
    weights = {}
    for kernel in ("for-loop", "foreach", "fused"):
        cfg = tiny_config(tiny_backbone, tmp_path / kernel, max_steps=4, adamw=kernel)
        weights[kernel] = load_file(finetune(cfg, progress=False) / "model.safetensors")
    for kernel in ("foreach", "fused"):
        for k, v in weights["for-loop"].items():
            assert torch.allclose(v, weights[kernel][k], atol=1e-5), (kernel, k)


def test_auto_takes_fused_for_dense_tensors_on_one_device() -> None:
    dense = [{"params": [torch.nn.Parameter(torch.zeros(3))]}]
    assert adamw_kernel("auto", dense) == {"fused": True}
    assert adamw_kernel("for-loop", dense) == {"foreach": False}


def test_frozen_word_embeddings_stay_as_loaded(tiny_backbone: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_backbone, tmp_path, max_steps=3, freeze_word_embeddings=True)
    out = finetune(cfg, progress=False)
    trained, base = (
        load_file(out / "model.safetensors"),
        load_file(tiny_backbone / "model.safetensors"),
    )
    name = "embeddings.word_embeddings.weight"
    assert torch.equal(trained[f"bert.{name}"], base[name])
    # the position embeddings and the encoder still train
    assert not torch.equal(
        trained["bert.embeddings.position_embeddings.weight"],
        base["embeddings.position_embeddings.weight"],
    )


def test_frozen_word_embeddings_refuse_an_extended_vocabulary(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    raw = tiny_config(tiny_backbone, tmp_path, freeze_word_embeddings=True).model_dump(mode="json")
    raw["model"]["extend_vocab"] = {"min_freq": 2}
    from cotune.config.schema import RunConfig

    with pytest.raises(ValidationError, match="freeze_word_embeddings"):
        RunConfig.model_validate(raw)
