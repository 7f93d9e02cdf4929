"""User-facing errors: each says what went wrong, where, and how to fix it."""

from __future__ import annotations


class CotuneError(Exception):
    """Base class for errors the CLI reports as a message, not a traceback."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what, self.where, self.fix = what, where, fix
        parts = [f"{where}: {what}" if where else what]
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__("\n".join(parts))


class DataError(CotuneError):
    """Bad input data (file, line and fix named)."""


class ConfigError(CotuneError):
    """A run config that does not validate (key and fix named)."""


class ArtifactError(CotuneError):
    """A model folder that cotune cannot load."""
