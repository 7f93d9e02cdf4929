"""Deprecated home of the HTTP client: it moved to `cotune.serving.client` (the client belongs to
the service it talks to). This module re-exports it for one release."""

import warnings

from cotune.serving.client import CotuneClient, ServerError, model_path

warnings.warn(
    "cotune.client moved to cotune.serving.client; the old path goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["CotuneClient", "ServerError", "model_path"]
