"""The assistant's build config: typed, unknown keys refused. Every key is also a flag of
`cotune assistant build` (`--intent.train.epochs 4`, `--retrieval.index hnsw`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field

from cotune.config import Section
from cotune.config.schema import MethodConfig, TrainConfig

SCHEMA_VERSION = 1


def _on_off(value: Any) -> Any:
    # YAML (and so a --flag value) reads on/off/yes/no as booleans
    return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


OnOffAuto = Annotated[Literal["auto", "on", "off"], BeforeValidator(_on_off)]


class _Section(Section):
    # the house rules (cotune.config.Section), and each field's docstring is its help
    model_config = ConfigDict(use_attribute_docstrings=True)


class IntentTrainConfig(TrainConfig):
    """cotune's train section with defaults for a few hundred short utterances: more epochs and
    higher rates than a corpus run (on the demo, 10 epochs at 3e-4 / head 3e-3 reached 0.64 dev
    accuracy where 6 at 1e-4 reached 0.43). A subclass, not a default instance, so that setting
    one key (`--intent.train.threads 1`) keeps these defaults for the others."""

    epochs: float = Field(10, gt=0, description="Passes over the training utterances.")
    lr: float = Field(3e-4, gt=0, description="Peak learning rate of AdamW.")
    head_lr: float | None = Field(3e-3, gt=0, description="Learning rate of the intent head.")
    seed: int = Field(13, description="Seed of init, dropout and batch order.")


class IntentModelConfig(_Section):
    backbone: str = Field("minilm-l6", description="Backbone of the intent classifier.")
    max_length: int = Field(64, ge=8, description="Sub-tokens per utterance (longer are windowed).")
    method: MethodConfig = Field(
        default_factory=MethodConfig, description="Adaptation method (`cotune methods list`)."
    )
    train: IntentTrainConfig = Field(
        default_factory=IntentTrainConfig, description="Training settings."
    )
    lexical_weight: Annotated[float, Field(ge=0, le=1)] | Literal["auto"] = Field(
        "auto",
        description="Weight of the character n-gram classifier mixed into the intent "
        "probabilities (0 to 1); auto: the one of 0, 0.25, 0.5, 0.75 that keeps the most in-scope "
        "dev accuracy at the out-of-scope target.",
    )
    extend_vocab: OnOffAuto = Field(
        "auto",
        description="Add the CJK characters of the training text that the backbone lacks "
        "(cotune's vocabulary extension). auto: on when some training text is Chinese.",
    )


class RetrievalConfig(_Section):
    encoder: str = Field("minilm-l6", description="Sentence encoder (mean pooling) for answers.")
    contrastive_epochs: int = Field(
        1,
        ge=0,
        description="Epochs of contrastive tuning of the encoder on (utterance, FAQ question) "
        "pairs from the intents file; 0 keeps the encoder as it is.",
    )
    contrastive_lr: float = Field(3e-5, gt=0, description="Learning rate of that tuning.")
    index: Literal["flat", "hnsw", "qdrant"] = Field(
        "flat", description="Vector index backend (docs/assistant.md says why flat)."
    )
    index_url: str | None = Field(
        None, description="qdrant only: a Qdrant server URL (default: embedded in the folder)."
    )
    cjk_tokens: Literal["chars", "bigrams", "jieba"] = Field(
        "bigrams", description="How BM25 cuts Chinese text."
    )
    fusion: Literal["rrf", "mix"] = Field("mix", description="Fusing dense and BM25 rankings.")
    lexical_weight: float = Field(0.3, ge=0, description="Weight of BM25 in the fusion.")
    top_k: int = Field(5, ge=1, le=100, description="FAQ candidates returned with each answer.")


class OutOfScopeConfig(_Section):
    target_recall: float = Field(
        0.85, gt=0, le=1, description="Out-of-scope recall the threshold must reach on dev."
    )
    score: Literal["auto", "max_prob", "margin", "knn"] = Field(
        "auto",
        description="What is thresholded: the top intent probability, the margin between the top "
        "two, or the cosine to the nearest training utterance; auto: the one that loses least "
        "in-scope accuracy on dev at the target recall.",
    )
    handoff_below: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Hand off when the answer's confidence (intent probability, lowered when "
        "no top FAQ candidate has the intent) is below this.",
    )
    agreement_penalty: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Confidence is multiplied by this when no top FAQ candidate has the "
        "predicted intent.",
    )


class AssistantConfig(_Section):
    schema_version: int = Field(SCHEMA_VERSION, description="Version of this config schema.")
    intents: Path = Field(..., description="Intents file (JSONL/CSV: text, intent[, lang]).")
    faq: Path = Field(
        ..., description="FAQ file (JSONL/CSV: id, question, answer[, intent, lang])."
    )
    dev: Path | None = Field(
        None,
        description="Dev file (intents format) for calibration; default: a seeded split of "
        "the intents file.",
    )
    out_of_scope: Path | None = Field(
        None, description="Extra out-of-scope examples (one text a line, or intents format)."
    )
    dev_share: float = Field(0.2, gt=0, lt=1, description="Share held out when there is no dev.")
    seed: int = Field(13, description="Seed of the dev split.")
    min_examples: int = Field(4, ge=2, description="Fewest examples an intent may have.")
    max_chars: int = Field(1000, ge=10, description="Longest query accepted, in characters.")
    intent: IntentModelConfig = Field(default_factory=IntentModelConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    oos: OutOfScopeConfig = Field(default_factory=OutOfScopeConfig)
    handoff_phrases: list[str] = Field(
        default_factory=list,
        description="Extra phrases that ask for a person (added to the built-in English and "
        "Chinese ones).",
    )
