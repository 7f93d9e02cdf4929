"""The typed run config. YAML key, CLI flag (`--train.lr`) and attribute are one name.

Every model is `extra="forbid"`: an unknown key is an error that names the key. A field's
description is its help text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator

from cotune.config.augment import AugmentOption
from cotune.config.continual import ContinualConfig
from cotune.config.privacy import PrivacyConfig
from cotune.config.section import Section
from cotune.config.tracking import TrackingConfig, TuneConfig, check_tune_paths

SCHEMA_VERSION = 1
TaskName = Literal["token-classification", "sequence-classification"]


class SplitConfig(Section):
    seed: int = Field(13, description="Seed of the shuffle that cuts train/dev/test.")
    dev: float = Field(0.1, ge=0, lt=1, description="Fraction of the corpus for dev.")
    test: float = Field(0.1, ge=0, lt=1, description="Fraction of the corpus for test.")
    stratify: bool = Field(True, description="Stratify by label (classification only).")

    @model_validator(mode="after")
    def _fractions(self) -> SplitConfig:
        if self.dev + self.test >= 1:
            raise ValueError(f"dev + test = {self.dev + self.test} leaves nothing to train on")
        return self


class DataConfig(Section):
    source: str | None = Field(
        None, description="Catalog name (`cotune data list`) or a file to split."
    )
    train: Path | None = Field(None, description="Train file (instead of `source`).")
    dev: Path | None = Field(None, description="Dev file (with `train`).")
    test: Path | None = Field(None, description="Test file (with `train`).")
    format: Literal["auto", "conll", "jsonl", "csv"] = Field(
        "auto", description="File format; auto: from the extension (.jsonl, .csv, else CoNLL)."
    )
    text_column: str = Field("text", description="CSV/JSONL field holding the text.")
    label_column: str = Field("label", description="CSV column holding the label.")
    label_separator: str | None = Field(
        None, description="Splits a CSV label cell into several labels (multi-label), e.g. '|'."
    )
    tag_scheme: Literal["auto", "IOB1", "IOB2", "IOBES"] = Field(
        "auto", description="Tag scheme of token files; all are converted to IOB2 (BIO)."
    )
    repair_tags: bool = Field(
        False, description="Read an I-X that continues nothing as B-X instead of failing."
    )
    split: SplitConfig = Field(default_factory=SplitConfig)
    limit: int | None = Field(
        None, ge=1, description="Keep only the first N examples of each split (smoke runs)."
    )
    augment: AugmentOption = Field(
        None,
        description="Add label-preserving augmented copies of the training split before "
        "encoding (`true` for the defaults); see docs/augment.md.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.source is None) == (self.train is None):
            raise ValueError("give exactly one of data.source (catalog name or file) or data.train")
        if self.train is None and (self.dev or self.test):
            raise ValueError("data.dev / data.test go with data.train, not with data.source")
        return self


class ExtendVocabConfig(Section):
    """`model.extend_vocab`: before training, give the backbone's tokenizer the characters (CJK)
    or word-pieces of the domain text that it lacks, with new embedding rows; old ids and rows
    stay as they were (cotune.models.vocab, docs/domain-adaptation.md)."""

    texts: list[str] = Field(
        default_factory=list,
        description="Text to learn the new vocabulary from: catalog sources, text files or "
        "folders (default: the run's own training split).",
    )
    min_freq: int = Field(2, ge=1, description="Add a character/piece only if seen this often.")
    max_new: int | None = Field(
        None, ge=1, description="Add at most this many entries, the most frequent first."
    )
    mode: Literal["auto", "chars", "wordpieces"] = Field(
        "auto",
        description="chars: the characters the base cannot tokenise (CJK); wordpieces: new "
        "pieces of a WordPiece vocabulary trained on the text; auto: chars when most unknown "
        "words are CJK, else wordpieces.",
    )
    noise: float = Field(
        0.1,
        ge=0,
        description="New rows with nothing to average start at the mean embedding plus "
        "Gaussian noise of this many per-dimension standard deviations.",
    )
    seed: int = Field(0, description="Seed of that noise.")


def _on_off_shorthand(value: Any) -> Any:
    """`true` takes every default, `false` is off."""
    return {} if value is True else (None if value is False else value)


# `model.extend_vocab` (fine-tune) and the pre-training config's `extend_vocab` share it
ExtendVocabOption = Annotated[ExtendVocabConfig | None, BeforeValidator(_on_off_shorthand)]


def _folder_name(name: str | None) -> str | None:
    # the run folder is OUTPUT_DIR/NAME: a '/' or '..' would put it (and what --overwrite
    # deletes) somewhere else
    if name is not None and (name in {".", ".."} or any(c in name for c in "/\\")):
        raise ValueError(
            f"{name!r} is not a folder name: the run goes to output_dir/name; put the path in "
            "output_dir and a plain name (no / or \\) in name"
        )
    return name


# `name` of a run, distillation or pre-training config: one folder inside output_dir
RunName = Annotated[str | None, AfterValidator(_folder_name)]


class ModelConfig(Section):
    backbone: str = Field(
        "minilm-l6", description="Catalog name (`cotune models list`), local folder or Hub name."
    )
    max_length: int = Field(
        128, ge=8, description="Longest sub-token sequence; longer NER sentences are windowed."
    )
    window_context: int = Field(
        16, ge=0, description="NER windows: sub-tokens of context kept on each side (unlabelled)."
    )
    label_all_subtokens: bool = Field(
        False, description="NER: train on every sub-token of a word, not only the first."
    )
    long_texts: Literal["mean", "max", "truncate"] = Field(
        "mean",
        description="Classification of texts longer than max_length at predict/evaluate/serve: "
        "cut into overlapping windows and average their logits (mean) or take each label's "
        "highest (max); truncate reads only the first max_length sub-tokens. See "
        "docs/long-texts.md.",
    )
    window_overlap: int = Field(
        32,
        ge=0,
        description="Classification windows: sub-tokens shared by consecutive windows (at "
        "most half a window).",
    )
    multi_label: bool = Field(False, description="Classification: several labels per text.")
    hidden_dropout: float | None = Field(None, ge=0, lt=1, description="Override hidden dropout.")
    attention_dropout: float | None = Field(
        None, ge=0, lt=1, description="Override attention-probability dropout."
    )
    classifier_dropout: float | None = Field(
        None, ge=0, lt=1, description="Dropout before the task head."
    )
    extend_vocab: ExtendVocabOption = Field(
        None,
        description="Extend the backbone's vocabulary from the training text first (`true` "
        "for the defaults); see docs/domain-adaptation.md.",
    )


class TrainConfig(Section):
    epochs: float = Field(5, gt=0, description="Passes over the training set (may be fractional).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps.")
    lr: float = Field(5e-5, gt=0, description="Peak learning rate of AdamW.")
    head_lr: float | None = Field(None, gt=0, description="Learning rate of the task head.")
    batch_size: int = Field(16, ge=1, description="Examples per micro-batch.")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW decay (not on biases/LayerNorm).")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps of linear warm-up.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Gradient clipping (None: off).")
    seed: int = Field(42, description="Seed of init, dropout and batch order.")
    group_by_length: bool = Field(
        True, description="Batch sentences of similar length together (less padding)."
    )
    eval_batch_size: int = Field(64, ge=1, description="Examples per batch at evaluation.")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="Stop after this many evaluations without dev improvement."
    )
    eval_every: int | None = Field(
        None, ge=1, description="Evaluate every N optimizer steps (default: each epoch)."
    )
    checkpoint_every: int | None = Field(
        None, ge=1, description="Write a resumable checkpoint every N optimizer steps."
    )
    keep_checkpoints: int = Field(2, ge=1, description="Resumable checkpoints kept on disk.")
    metric: str | None = Field(
        None, description="Dev metric that picks the best model (default: f1 for NER, else acc)."
    )
    threads: int | None = Field(None, ge=1, description="torch intra-op threads (default: all).")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where to train: auto picks a CUDA GPU when there is one."
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32",
        description="Autocast precision of the forward pass (weights stay fp32): bf16 or fp16 "
        "(with loss scaling) on a GPU; fp16 is refused on the CPU.",
    )
    adamw: Literal["auto", "fused", "foreach", "for-loop"] = Field(
        "auto",
        description="AdamW kernel: auto takes fused (one kernel over all weights) where it can; "
        "for-loop is torch's CPU default (same update, different last-bit rounding).",
    )
    freeze_word_embeddings: bool = Field(
        False,
        description="Keep the word-embedding matrix fixed (no gradient, no AdamW state): faster "
        "steps; see docs/scale.md for what it does to quality.",
    )


class MethodConfig(Section):
    """Adaptation method. `name` picks a registered method; its own typed options sit beside it
    and are checked by that method's schema when the config is loaded."""

    model_config = ConfigDict(extra="allow")
    name: str = Field("full", description="Adaptation method (`cotune methods list`).")

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class RunConfig(Section):
    schema_version: int = Field(SCHEMA_VERSION, description="Version of this config schema.")
    name: RunName = Field(None, description="Run name (default: derived from the config).")
    task: TaskName = Field(..., description="What the model does.")
    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    method: MethodConfig = Field(default_factory=MethodConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output_dir: Path = Field(Path("runs"), description="Artifacts go to OUTPUT_DIR/NAME.")
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="Experiment tracking (MLflow, JSONL, none)."
    )
    tune: TuneConfig | None = Field(
        None, description="Hyper-parameter search space and settings (`cotune tune`)."
    )
    privacy: PrivacyConfig | None = Field(
        None, description="Differentially private training (`privacy.dp`)."
    )
    continual: ContinualConfig | None = Field(
        None,
        description="Warm start from a trained artifact (--from) and guards against "
        "forgetting: replay, l2sp, ewc (docs/continual.md).",
    )

    @model_validator(mode="after")
    def _cross(self) -> RunConfig:
        if self.schema_version > SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {self.schema_version} is newer than this cotune "
                f"({SCHEMA_VERSION}): upgrade cotune"
            )
        if self.task == "token-classification" and self.model.multi_label:
            raise ValueError("model.multi_label applies to sequence-classification only")
        if self.train.freeze_word_embeddings and self.model.extend_vocab is not None:
            raise ValueError(
                "train.freeze_word_embeddings would freeze the rows model.extend_vocab adds: "
                "set one of them off"
            )
        check_tune_paths(self.tune, type(self))
        return self

    def run_name(self) -> str:
        if self.name:
            return self.name
        src = self.data.source or (self.data.train.stem if self.data.train else "data")
        return f"{Path(src).stem}-{self.method.name}"
