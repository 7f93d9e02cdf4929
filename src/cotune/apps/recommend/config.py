"""The recommender's run config (`cotune recommend train CONFIG`): typed, unknown keys refused.

The YAML key, the CLI flag (`--train.epochs 2`) and the attribute are one name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from cotune.config import Section

SCHEMA_VERSION = 1


class DataSection(Section):
    source: str | None = Field(
        None, description="A named interaction source (ml-100k), or leave empty and give files."
    )
    interactions: Path | None = Field(
        None, description="Your interactions file: CSV (header user,item,ts[,rating]) or JSONL."
    )
    items: Path | None = Field(
        None, description="Your items JSONL: item, text, optional tags (list) and year."
    )
    split: Literal["temporal", "cold"] = Field(
        "cold",
        description="temporal: leave-last-out per user; cold: the same over the warm items, "
        "plus cold-start targets on a held-out fraction of the items.",
    )
    cold_fraction: float = Field(0.2, gt=0, lt=1, description="Share of items held out (cold).")
    seed: int = Field(13, description="Seed of the cold-item draw.")

    @model_validator(mode="after")
    def _one_source(self) -> DataSection:
        files = self.interactions is not None or self.items is not None
        if self.source and files:
            raise ValueError("give data.source or data.interactions + data.items, not both")
        if not self.source and (self.interactions is None or self.items is None):
            raise ValueError("give data.source (ml-100k) or both data.interactions and data.items")
        return self


class ModelSection(Section):
    backbone: str = Field("minilm-l6", description="Encoder shared by both towers.")
    max_length: int = Field(64, ge=8, le=512, description="Tokens per tower input.")
    history_len: int = Field(
        5, ge=1, le=50, description="The user tower reads this many most recent items."
    )


class MethodSection(Section):
    name: Literal["full", "lora"] = Field(
        "full", description="full: every weight trains; lora: low-rank updates (peft), merged."
    )
    r: int = Field(8, ge=1, description="LoRA rank.")
    alpha: int = Field(16, gt=0, description="LoRA scale numerator (alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")


class TrainSection(Section):
    epochs: int = Field(1, ge=1, le=100, description="Passes over the training pairs.")
    batch_size: int = Field(32, ge=2, description="Pairs per step (in-batch negatives).")
    lr: float = Field(5e-5, gt=0, lt=1, description="AdamW learning rate.")
    pairs_per_user: int = Field(
        4, ge=1, description="(history, next item) pairs drawn per user from training."
    )
    hard_negatives: bool = Field(
        True, description="Add, per pair, a look-alike warm item the user never chose."
    )
    max_steps: int | None = Field(None, ge=1, description="Stop after this many steps.")
    seed: int = Field(0, description="Seed of pair sampling, batching and initialisation.")
    threads: int | None = Field(None, ge=1, description="torch threads (default: all cores).")


class RankSection(Section):
    candidates: int = Field(
        100, ge=1, description="Candidates taken from the index (and from item-kNN) to re-rank."
    )
    reranker: Literal["logistic", "none"] = Field(
        "logistic", description="Re-rank candidates with a logistic model over features."
    )
    index: str = Field("flat", description="Vector index backend (flat, hnsw, qdrant).")


class RecommendConfig(Section):
    schema_version: int = Field(SCHEMA_VERSION, description="Config schema version.")
    name: str = Field("recommender", description="Run folder name inside output_dir.")
    output_dir: Path = Field(Path("runs"), description="Where the run folder goes.")
    data: DataSection
    model: ModelSection = Field(default_factory=ModelSection)
    method: MethodSection = Field(default_factory=MethodSection)
    train: TrainSection = Field(default_factory=TrainSection)
    rank: RankSection = Field(default_factory=RankSection)

    @model_validator(mode="after")
    def _plain_name(self) -> RecommendConfig:
        if not self.name or "/" in self.name or "\\" in self.name or self.name in (".", ".."):
            raise ValueError(f"name {self.name!r} must be one folder name, without slashes")
        return self

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_recommend_config(
    path: str | Path, overrides: dict[str, Any] | None = None
) -> RecommendConfig:
    """A YAML file + dotted overrides, validated; errors name the key, line and fix."""
    from cotune.config.load import check_schema, read_config, relative_to_config

    path = Path(path)
    raw, tree = read_config(path, overrides)
    section = raw.get("data")
    if isinstance(section, dict):
        for key in ("interactions", "items"):
            if key in section:
                section[key] = relative_to_config(path, section[key])
    return check_schema(raw, RecommendConfig, str(path), tree)
