"""Model registry: named models, versions, aliases and stages on MLflow's registry."""

from cotune.registry.models import ModelRegistry, VersionInfo, parse_ref

__all__ = ["ModelRegistry", "VersionInfo", "parse_ref"]
