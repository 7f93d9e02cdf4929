"""Typed run configs: pydantic schemas, YAML loading and dotted CLI overrides."""

from cotune.config.load import apply_overrides, load_config, parse_overrides
from cotune.config.schema import SCHEMA_VERSION, RunConfig
from cotune.config.section import Section

__all__ = [
    "SCHEMA_VERSION",
    "RunConfig",
    "Section",
    "apply_overrides",
    "load_config",
    "parse_overrides",
]
