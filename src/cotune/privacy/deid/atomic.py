"""Writes that never leave a half-written file: write a sibling temp file, then rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cotune.errors import DataError


def atomic_write_bytes(path: Path, data: bytes, *, private: bool = False) -> None:
    """Replace `path` with `data` in one rename; `private` makes it owner-only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if private:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, *, private: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), private=private)


def refuse_same_file(source: Path, target: Path, what: str) -> None:
    """Redaction must never overwrite its own input (or the vault with data, etc.)."""
    if target.exists() and source.exists() and source.resolve() == target.resolve():
        raise DataError(
            f"{what} would overwrite {source}",
            where=str(target),
            fix="write to a different file",
        )
