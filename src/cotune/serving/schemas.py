"""Request and response bodies of the HTTP API, shared by the server and `cotune.serving.client`.

Requests forbid unknown keys (a typo is an error, not a silently ignored option); responses
ignore them, so an older client keeps working against a newer server that adds fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)


class PredictRequest(BaseModel):
    """One text (`text`) or several (`texts`); exactly one of the two."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "Obama visited Paris with Apple executives"}]},
    )

    text: StrictStr | None = Field(None, description="A single text.")
    texts: list[StrictStr] | None = Field(None, description="Several texts, answered in order.")
    # Strict: JSON true would otherwise be top_k=1 or threshold=1.0, and "2" a silent 2.
    top_k: StrictInt | None = Field(
        None, ge=1, description="Classification: keep only the k most probable labels' scores."
    )
    threshold: StrictFloat | None = Field(
        None, ge=0, le=1, description="Multi-label classification: probability to accept a label."
    )
    explain: StrictBool = Field(
        False,
        description="Also explain each prediction: integrated gradients per predicted label or "
        "entity, a score per word with character offsets (few, short texts: 413 past "
        "explain_max_texts / explain_max_chars).",
    )

    @model_validator(mode="after")
    def _one_input(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError('give exactly one of "text" (a string) or "texts" (a list)')
        if self.texts is not None and not self.texts:
            raise ValueError('"texts" is empty: send at least one text')
        for i, t in enumerate(self.all_texts()):
            try:
                t.encode("utf-8")
            except UnicodeEncodeError as e:  # a lone surrogate such as "\ud800" in the JSON
                raise ValueError(f"text {i} is not valid Unicode ({e.reason})") from None
        return self

    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class EntitySpan(BaseModel):
    label: str
    start: int = Field(description="Character offset: text[start:end] is the entity.")
    end: int
    text: str
    score: float = Field(description="Mean probability of the entity's word tags.")


class EntityPrediction(BaseModel):
    entities: list[EntitySpan]


class ClassPrediction(BaseModel):
    label: str | None = Field(description="The label (single-label models), else null.")
    labels: list[str] = Field(description="Chosen labels (multi-label: all above threshold).")
    scores: dict[str, float] = Field(description="Probability per label, most probable first.")


class WordScore(BaseModel):
    word: str
    start: int = Field(description="Character offset: text[start:end] is the word.")
    end: int
    score: float | None = Field(description="Attribution to the target's logit; null: unseen.")


class TargetExplanation(BaseModel):
    label: str = Field(description="The label, or the entity's type.")
    method: str
    entity: dict[str, Any] | None = Field(None, description="NER: the entity explained.")
    probability: float
    logit: float | None = None
    baseline_logit: float | None = None
    convergence_delta: float | None = Field(
        None, description="Sum of scores minus (logit - baseline_logit)."
    )
    words: list[WordScore]


class TextExplanation(BaseModel):
    explanations: list[TargetExplanation]
    notes: list[str] = Field(default_factory=list)


class PredictResponse(BaseModel):
    model: str
    task: str
    predictions: list[EntityPrediction] | list[ClassPrediction]
    explanations: list[TextExplanation] | None = Field(
        None, description="With explain: true, one per text, in order."
    )


class BaseInfo(BaseModel):
    name: str | None = Field(description="Backbone the model was adapted from.")
    fingerprint: str | None = None


class ModelInfo(BaseModel):
    name: str
    task: str
    labels: list[str]
    multi_label: bool = False
    backend: str
    method: str | None = None
    base: BaseInfo
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Test-set scores recorded in the artifact."
    )


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    models: list[str]


class ErrorDetail(BaseModel):
    type: str = Field(description="Machine-readable kind, e.g. max_texts, unauthorized, timeout.")
    message: str
    limit: str | None = Field(None, description="The setting whose limit was exceeded.")
    max: int | float | None = Field(None, description="That setting's value.")
    value: int | float | None = Field(None, description="What the request had.")
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def error_body(type_: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON of every error answer: {"error": {"type": ..., "message": ..., ...}}."""
    detail = ErrorDetail(type=type_, message=message, **extra)
    return {"error": detail.model_dump(exclude_none=True)}
