"""`cotune redact`'s options: one typed schema whose keys are the flags (`--key-file` is
`key_file`), validated once; light enough for the CLI to import at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from cotune.config.section import Section


class RedactOptions(Section):
    format: Literal["auto", "conll", "jsonl", "csv", "text"] = Field(
        "auto", description="Input format (auto: by suffix and content)."
    )
    policy: list[str] = Field(
        default_factory=list, description="TYPE=pseudonym|surrogate|mask; * sets the default."
    )
    ner_model: Path | None = Field(None, description="cotune NER artifact for names.")
    label_map: list[str] = Field(
        default_factory=list, description="Artifact/gold LABEL=PERSON|ORGANIZATION|LOCATION."
    )
    names: Literal["auto", "model", "heuristic", "both", "none"] = Field(
        "auto", description="Where names come from: auto, model, heuristic, both or none."
    )
    entities: str | None = Field(
        None, description="Comma-separated types to look for (default: all)."
    )
    threshold: float = Field(0.5, ge=0, le=1, description="Minimum detection score.")
    vault: Path | None = Field(None, description="Encrypted vault for re-identification.")
    key_file: Path | None = Field(None, description="Vault key (created if missing).")
    report: Path | None = Field(
        None, description="Report JSON (+ .md); default OUTPUT.report.json."
    )
    columns: str | None = Field(None, description="JSONL fields / CSV columns to redact.")
    no_tags: bool = Field(False, description="Do not treat gold name entities as PII.")
    sample: int = Field(20, ge=0, description="Units shown in the report's review sample.")
    report_originals: bool = Field(False, description="Put originals in the report sample.")
    backend: Literal["presidio", "cotune"] = Field(
        "presidio", description="presidio or cotune (same spans, no Presidio import)."
    )

    @model_validator(mode="after")
    def _key_needs_vault(self) -> RedactOptions:
        if self.key_file is not None and self.vault is None:
            raise ValueError("key_file without vault: add --vault FILE to keep the mapping")
        return self
