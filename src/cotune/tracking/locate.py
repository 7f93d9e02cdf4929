"""Where runs go: the backend and URI a config (or the CLI) means, resolved once, here.

Order for the MLflow URI: `tracking.uri` / `--uri`, then `$MLFLOW_TRACKING_URI` (a team's
server), then `sqlite:///$COTUNE_HOME/mlruns.db`, then `sqlite:///./mlruns.db`: embedded, no server.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from cotune.errors import ConfigError

BACKENDS = ("mlflow", "jsonl", "none")


def home() -> Path:
    """$COTUNE_HOME, else the working directory: where default stores live."""
    return Path(os.environ.get("COTUNE_HOME") or ".").expanduser().resolve()


def mlflow_installed() -> bool:
    return importlib.util.find_spec("mlflow") is not None


def resolve_backend(backend: str = "auto") -> str:
    """auto -> $COTUNE_TRACKING, else mlflow when installed, else jsonl."""
    if backend == "auto":
        backend = os.environ.get("COTUNE_TRACKING", "").strip().lower() or (
            "mlflow" if mlflow_installed() else "jsonl"
        )
    if backend not in BACKENDS:
        raise ConfigError(
            f"unknown tracking backend {backend!r}",
            where="tracking.backend / $COTUNE_TRACKING",
            fix=f"use one of {', '.join(BACKENDS)} or auto",
        )
    if backend == "mlflow" and not mlflow_installed():
        raise ConfigError(
            "tracking.backend is mlflow but mlflow is not installed",
            where="tracking.backend",
            fix="pip install mlflow-skinny, or set tracking.backend: jsonl (or none)",
        )
    return backend


def mlflow_uri(uri: str | None = None) -> str:
    """A tracking URI MLflow accepts; a bare `*.db` path becomes an absolute sqlite URI."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or str(home() / "mlruns.db")
    if "://" in uri or uri.startswith("databricks"):
        return uri
    path = Path(uri).expanduser().resolve()
    if path.suffix != ".db":
        raise ConfigError(
            f"tracking.uri {uri!r} is neither a URI nor a .db file",
            where="tracking.uri",
            fix="use sqlite:///path/mlruns.db, http://host:5000, or a path ending in .db",
        )
    return f"sqlite:///{path}"


def sqlite_path(uri: str) -> Path | None:
    """The database file behind a sqlite URI (None for servers)."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :])
    return None


def jsonl_root(uri: str | None = None) -> Path:
    if uri and "://" in uri:
        raise ConfigError(
            f"the jsonl tracking backend writes to a folder, not to {uri!r}",
            where="tracking.uri",
            fix="give a folder path, or use tracking.backend: mlflow for URIs",
        )
    return Path(uri).expanduser().resolve() if uri else home() / "cotune-runs"
