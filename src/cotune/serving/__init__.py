"""Serve artifacts over HTTP: FastAPI app, micro-batching, limits, API keys, metrics."""

from cotune.serving.app import create_app
from cotune.serving.backends import Backend, PredictorBackend, load_models
from cotune.serving.settings import ServeSettings

__all__ = ["Backend", "PredictorBackend", "ServeSettings", "create_app", "load_models"]
