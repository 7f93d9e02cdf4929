"""A fresh MLflow SQLite store per test, cheaply.

Creating an MLflow database runs its migrations (3-10 s here); they run once per session on a
template file, and each test gets a copy of it.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cotune.config.schema import RunConfig
from cotune.config.tracking import TrackingConfig

_template: Path | None = None


def fresh_mlflow_uri(folder: Path) -> str:
    global _template
    if _template is None:
        root = Path(tempfile.mkdtemp(prefix="cotune-mlflow-template-"))
        atexit.register(shutil.rmtree, root, True)
        from cotune.tracking.mlflow_backend import client

        client(str(root / "mlruns.db")).search_experiments()  # runs the migrations
        _template = root / "mlruns.db"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(_template, folder / "mlruns.db")
    return f"sqlite:///{folder / 'mlruns.db'}"


def tracked(cfg: RunConfig, backend: str, uri: str, **kw: Any) -> RunConfig:
    """`cfg` logging to `backend` at `uri`."""
    cfg.tracking = TrackingConfig(backend=backend, uri=uri, **kw)
    return cfg
