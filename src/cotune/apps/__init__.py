"""End-user applications built on cotune's public API, one folder each.

Importing this package registers each application's folder marker with `cotune serve`
(`cotune.serving.mounts.register_mount`), so a built application folder is served beside the
models. Each application's loader is imported only when such a folder is served.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from cotune.serving.mounts import Mount, register_mount
from cotune.serving.settings import ServeSettings

# marker file -> "module:function" returning a Mount (name, folder, settings)
APPS: dict[str, str] = {
    "assistant.json": "cotune.apps.assistant.serve:load_mount",
    "monitor.yaml": "cotune.apps.monitor.serve:load_mount",
    "recommender.json": "cotune.apps.recommend.serve:load_mount",
}


def _lazy(target: str) -> Any:
    module, _, attr = target.partition(":")

    def load(name: str, folder: Path, settings: ServeSettings) -> Mount:
        return getattr(import_module(module), attr)(name, folder, settings)

    return load


for _marker, _target in APPS.items():
    register_mount(_marker, _lazy(_target))
