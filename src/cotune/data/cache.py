"""Where cotune keeps converted corpora and downloaded source packages."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """`$COTUNE_CACHE` (default `~/.cache/cotune`) / parts, created on demand."""
    root = Path(os.environ.get("COTUNE_CACHE", Path.home() / ".cache" / "cotune"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
