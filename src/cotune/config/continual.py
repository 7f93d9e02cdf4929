"""Config section `continual:` of a run: warm start from a trained artifact and the guards
against forgetting what it knew (replay, L2-SP, EWC, a new adapter per period).

Kept out of schema.py so that file stays the map of a run; RunConfig imports this section.
The logic lives in cotune.recipes.continual (docs/continual.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from cotune.config.section import Section


class ReplayConfig(Section):
    """Rehearsal: earlier training examples mixed into the new training set."""

    source: str | None = Field(
        None,
        description="Earlier data to replay: a catalog name or a labelled file (its train split "
        "under the parent's recorded split when it is the parent's own source). Default: the "
        "reservoir stored in the parent artifact (continual.keep_replay).",
    )
    size: int = Field(
        1000, ge=1, description="Earlier examples drawn (seeded reservoir sample) into training."
    )
    seed: int = Field(0, description="Seed of that sample.")


class ContinualConfig(Section):
    """`cotune train CONFIG --from ARTIFACT` sets `parent`; the rest says how to keep what the
    parent knew while it learns the new data."""

    parent: Path | None = Field(
        None,
        description="Trained artifact to continue from (warm start); `--from` on the command "
        "line. Recorded in the new card as its parent.",
    )
    grow_head: bool = Field(
        False,
        description="Allow labels (or entity types) the parent does not know: new rows are "
        "added to its head. Without it such data is refused.",
    )
    replay: ReplayConfig | None = Field(
        None, description="Mix earlier examples into training (`replay: {}` for the defaults)."
    )
    penalty: Literal["none", "l2sp", "ewc"] = Field(
        "none",
        description="Pull the weights towards the parent's: l2sp (uniform, Li et al. 2018) or "
        "ewc (weighted by the Fisher information on the earlier data, Kirkpatrick et al. 2017).",
    )
    strength: float = Field(
        0.01,
        ge=0,
        description="Weight of the penalty: alpha/2 * ||w - w0||^2 (l2sp) or "
        "lambda/2 * sum F (w - w0)^2 (ewc), added to the mean task loss.",
    )
    fisher_examples: int = Field(
        512,
        ge=1,
        description="Earlier examples used to estimate the Fisher when the parent stores none.",
    )
    keep_replay: int = Field(
        0,
        ge=0,
        description="Store a reservoir of this many training examples (with the parent's own) in "
        "the artifact, for the next period's replay. 0: none (the texts ship with the model).",
    )
    store_fisher: bool = Field(
        False,
        description="Compute the diagonal Fisher on this run's training data and store it in "
        "the artifact (fisher.safetensors), for the next period's EWC.",
    )
    new_adapter: bool = Field(
        True,
        description="Adapter methods (lora, ia3, ...) with a parent: fold the parent's weights "
        "into the base and train a new adapter for this period; the artifact is written merged.",
    )

    @model_validator(mode="after")
    def _needs_parent(self) -> ContinualConfig:
        if self.penalty != "none" and self.parent is None:
            raise ValueError(
                f"continual.penalty {self.penalty} pulls towards a parent's weights: give "
                "continual.parent (cotune train CONFIG --from ARTIFACT)"
            )
        return self
