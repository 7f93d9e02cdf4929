"""`cotune distill` config: a run config (data, model, train sections) plus a `distill` section.

The student's data, task and training schedule are the ones of an ordinary run (`RunConfig`), so
every key a fine-tune takes means the same here. `model.backbone` names the student backbone
when `distill.layers` is not given; with `distill.layers` the student is the teacher itself cut
down to those layers (DistilBERT-style initialisation) and `model.backbone` is ignored.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from cotune.config.schema import RunConfig, Section


class PruneConfig(Section):
    heads: float = Field(
        0.0, ge=0, lt=1, description="Fraction of attention heads to remove (least important)."
    )
    ffn: float = Field(
        0.0, ge=0, lt=1, description="Fraction of FFN neurons to remove in every layer."
    )
    batches: int = Field(4, ge=1, description="Dev batches used to score importance.")


class DistillOptions(Section):
    teacher: Path = Field(..., description="Artifact folder of the fine-tuned teacher.")
    layers: list[int] | None = Field(
        None, description="Student = the teacher keeping these layers (e.g. [0, 2, 4])."
    )
    temperature: float = Field(2.0, gt=0, description="Softmax temperature of the soft targets.")
    alpha: float = Field(
        0.5, ge=0, le=1, description="Weight of the soft-target loss; the hard loss gets 1-alpha."
    )
    hidden_weight: float = Field(
        0.0, ge=0, description="Weight of hidden-state MSE alignment (needs equal widths)."
    )
    prune: PruneConfig | None = Field(
        None, description="Structured pruning of the student before the (recovery) training."
    )

    @model_validator(mode="after")
    def _layers(self) -> DistillOptions:
        if self.layers is not None:
            if not self.layers:
                raise ValueError("distill.layers is empty: keep at least one layer")
            if len(set(self.layers)) != len(self.layers) or sorted(self.layers) != self.layers:
                raise ValueError(f"distill.layers {self.layers} must be distinct and ascending")
        return self


class DistillConfig(RunConfig):
    distill: DistillOptions

    @model_validator(mode="after")
    def _unsupported(self) -> DistillConfig:
        """Keys a fine-tune takes that distillation would otherwise ignore without a word."""
        if self.privacy is not None:
            raise ValueError(
                "privacy.dp is not supported by `cotune distill` (the teacher's soft labels "
                "would need their own accounting): remove the privacy section"
            )
        if self.model.extend_vocab is not None:
            raise ValueError(
                "model.extend_vocab is not supported by `cotune distill`: the student must "
                "share the teacher's tokenizer; extend the teacher's backbone instead"
            )
        return self

    def run_name(self) -> str:
        if self.name:
            return self.name
        return f"{super().run_name()}-distilled"
