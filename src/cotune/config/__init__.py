"""Typed run configs: pydantic schemas, YAML loading and dotted CLI overrides."""

from cotune.config.load import apply_overrides, load_config, parse_overrides
from cotune.config.schema import SCHEMA_VERSION, RunConfig

__all__ = ["SCHEMA_VERSION", "RunConfig", "apply_overrides", "load_config", "parse_overrides"]
