"""The tiny artifacts the explanation tests explain: an NER model and a classifier, two steps of
training each on the tiny backbone (module-scoped fixtures; import them into a test module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cotune.recipes.finetune import finetune

from .helpers import tiny_config


@pytest.fixture(scope="module")
def ner_model(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return finetune(
        tiny_config(tiny_backbone, tmp_path_factory.mktemp("ner"), max_steps=2), progress=False
    )


@pytest.fixture(scope="module")
def cls_model(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("cls"), "cls", max_steps=2)
    return finetune(cfg, progress=False)
