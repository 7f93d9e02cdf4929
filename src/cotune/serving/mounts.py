"""Applications served beside the models: one small extension point for `cotune serve`.

An application (an assistant, a monitor, a recommender) is a folder that `cotune serve` is given
like an artifact. Its `Mount` adds routes under `/v1/{kind}/{name}/...` (and pages, if it has
any) to the one FastAPI app, so it shares the models' API keys, body limits, error answers,
metrics and lifecycle. The serving layer knows no application: `cotune.apps` registers a loader
per marker file (the file that tells an application's folder from a model artifact).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter

from cotune.serving.settings import ServeSettings


@dataclass(frozen=True)
class MountContext:
    """What a mount's routes need from the server: its settings, and the auth dependencies to
    put on every API route (empty when no keys are configured)."""

    settings: ServeSettings
    protected: Sequence[Any] = field(default_factory=list)
    auth_codes: tuple[int, ...] = ()


class Mount(Protocol):
    kind: str  # the URL segment: "assistants", "monitors", "recommenders"
    name: str

    def router(self, ctx: MountContext) -> APIRouter:
        """The routes, with full paths (`/v1/{kind}/{name}/...`, `/{kind}/{name}` for a page)."""
        ...

    async def start(self) -> None:
        """Called once the server runs (start workers, open stores)."""
        ...

    async def stop(self) -> None:
        """Called on shutdown, after in-flight requests: flush and close."""
        ...


MountLoader = Callable[[str, Path, ServeSettings], Mount]

_LOADERS: dict[str, MountLoader] = {}


def register_mount(marker: str, loader: MountLoader) -> None:
    """A folder holding `marker` is served by `loader(name, folder, settings)`."""
    _LOADERS[marker] = loader


def mount_loader(folder: Path) -> MountLoader | None:
    """The loader for an application folder, or None for a model artifact."""
    for marker, loader in _LOADERS.items():
        if (folder / marker).is_file():
            return loader
    return None


def load_mounts(specs: Sequence[str], settings: ServeSettings) -> tuple[list[str], list[Mount]]:
    """Split `cotune serve`'s folders into model specs (returned as given) and loaded mounts."""
    from cotune.serving.backends import parse_spec

    models: list[str] = []
    mounts: list[Mount] = []
    for spec in specs:
        name, folder = parse_spec(spec)
        loader = mount_loader(folder)
        if loader is None:
            models.append(spec)
        else:
            mounts.append(loader(name, folder, settings))
    return models, mounts
