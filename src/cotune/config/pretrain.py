"""`cotune pretrain` config: which text, which backbone, how to mask, how long to train.

The `train` section is the fine-tune's `TrainConfig` (same keys, same loop) and `tracking` the
same tracking section, so a pre-training run is checkpointed, resumed and logged like any run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cotune.config.load import check_schema, read_config, relative_to_config
from cotune.config.schema import (
    ExtendVocabOption,
    RunName,
    Section,
    SplitConfig,
    TrainConfig,
)
from cotune.config.tracking import TrackingConfig

PRETRAIN_SCHEMA_VERSION = 1


class TextConfig(Section):
    sources: list[str] = Field(
        ...,
        min_length=1,
        description="Catalog sources (`cotune data list`), text files (.txt: one text a line; "
        ".conll/.jsonl/.csv: the text of each example) or folders of .txt files.",
    )
    use: Literal["train-split", "all"] = Field(
        "train-split",
        description="Labelled sources: only the texts the seeded split (`text.split`) puts in "
        "train, so the fine-tune's dev/test never leak into pre-training; or all of them.",
    )
    split: SplitConfig = Field(
        default_factory=SplitConfig,
        description="The split whose train part is used: keep it equal to the fine-tune "
        "config's data.split.",
    )
    limit: int | None = Field(None, ge=1, description="At most N texts from each source.")
    dev_texts: int = Field(
        200, ge=1, description="Texts held out (seeded) to measure masked-LM loss and accuracy."
    )
    seed: int = Field(13, description="Seed of the dev hold-out.")


class MlmConfig(Section):
    mask_prob: float = Field(0.15, gt=0, lt=1, description="Share of tokens to predict.")
    mask_token: float = Field(
        0.8, ge=0, le=1, description="Of those, the share replaced by [MASK] (BERT: 0.8)."
    )
    random_token: float = Field(
        0.1, ge=0, le=1, description="Of those, the share replaced by a random token (BERT: 0.1)."
    )
    whole_word: bool = Field(
        True, description="Mask every piece of a word together (not single word-pieces)."
    )
    cjk_span: int = Field(
        3,
        ge=1,
        description="Chinese has no spaces, so CJK characters are masked in runs of 1..N "
        "neighbours (geometric, p=0.5; mean ~1.6, about a Chinese word); 1: single characters.",
    )

    @model_validator(mode="after")
    def _shares(self) -> MlmConfig:
        if self.mask_token + self.random_token > 1:
            raise ValueError("mlm.mask_token + mlm.random_token must be at most 1")
        return self


class PretrainModelConfig(Section):
    backbone: str = Field(
        "minilm-l6", description="Catalog name, backbone folder (e.g. an earlier pre-training)."
    )
    max_length: int = Field(128, ge=8, description="Longest sequence; longer texts are cut.")
    extend_vocab: ExtendVocabOption = Field(
        None,
        description="Extend the vocabulary first (`true`: defaults; texts default to the "
        "pre-training text).",
    )


# pre-training's own defaults for keys the `train` section leaves out: one pass, a higher peak
# rate than fine-tuning, evaluation and checkpoints every 200 steps
TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 1,
    "lr": 1e-4,
    "batch_size": 32,
    "eval_every": 200,
    "checkpoint_every": 200,
}


def _pretrain_defaults() -> TrainConfig:
    return TrainConfig(**TRAIN_DEFAULTS)


class PretrainConfig(Section):
    schema_version: int = Field(PRETRAIN_SCHEMA_VERSION, description="Version of this schema.")
    name: RunName = Field(None, description="Output folder name (default: from the config).")
    text: TextConfig
    model: PretrainModelConfig = Field(default_factory=PretrainModelConfig)
    mlm: MlmConfig = Field(default_factory=MlmConfig)
    train: TrainConfig = Field(default_factory=_pretrain_defaults)
    budget_minutes: float | None = Field(
        None,
        gt=0,
        description="Train for about this many minutes of this machine: the step count is set "
        "once from a timed probe (kept on --resume) and replaces train.epochs/max_steps.",
    )
    output_dir: Path = Field(Path("runs"), description="The backbone goes to OUTPUT_DIR/NAME.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @field_validator("train", mode="before")
    @classmethod
    def _train_defaults(cls, value: Any) -> Any:
        return {**TRAIN_DEFAULTS, **value} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _version(self) -> PretrainConfig:
        if self.schema_version > PRETRAIN_SCHEMA_VERSION:
            raise ValueError(f"schema_version {self.schema_version} is newer than this cotune")
        return self

    def run_name(self) -> str:
        if self.name:
            return self.name
        base = Path(self.model.backbone).name
        text = "+".join(Path(s).stem for s in self.text.sources)
        return f"{base}-mlm-{text}"


def load_pretrain_config(
    path: str | Path, overrides: dict[str, Any] | None = None
) -> PretrainConfig:
    """A pre-training config file + `--section.key value` overrides, validated; errors name the
    key, its line and the fix, as for run configs. Relative text paths are read relative to the
    file when they exist there."""
    path = Path(path)
    raw, tree = read_config(path, overrides)
    text = raw.get("text")
    if isinstance(text, dict) and isinstance(text.get("sources"), list):
        text["sources"] = [relative_to_config(path, s) for s in text["sources"]]
    return check_schema(raw, PretrainConfig, str(path), tree)
