"""Serve artifacts over HTTP: FastAPI app, micro-batching, limits, API keys, metrics.

Names are imported on first use, so that `cotune.serving.settings` (what the CLI reads for its
flags' defaults) does not pull in torch and transformers at start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "create_app": "cotune.serving.app",
    "Backend": "cotune.serving.backends",
    "PredictorBackend": "cotune.serving.backends",
    "load_models": "cotune.serving.backends",
    "ServeSettings": "cotune.serving.settings",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'cotune.serving' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)


__all__ = ["Backend", "PredictorBackend", "ServeSettings", "create_app", "load_models"]
