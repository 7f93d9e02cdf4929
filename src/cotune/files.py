"""Writes that never leave a half-written file or folder where a finished one is expected, and
survive a power cut once they return: the one way cotune writes results.

- `atomic_write_bytes` / `atomic_write_text`: a sibling temp file, fsync, rename, fsync the folder.
- `atomic_path`: the same for writers that want a path (torch.save, onnx.save, np.savez).
- `staged_folder`: build a whole folder under a hidden sibling, then rename it into place
  (replacing an older one only once the new one is complete).
- `publish_files`: move staged files into an existing folder one rename each (an artifact folder
  that already holds the run's config and checkpoints).

A rename is atomic only within one file system, which is why every temp is a sibling.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_folder(folder: Path) -> None:
    """Make a rename inside `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _plain_permissions(fd: int) -> None:
    """mkstemp makes files 0600; give them what a plain open() would (0666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)


def atomic_write_bytes(path: Path, data: bytes, *, private: bool = False) -> None:
    """Replace `path` with `data` in one rename; `private` makes it owner-only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if not private:
            _plain_permissions(fd)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def atomic_write_text(path: Path, text: str, *, private: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), private=private)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path` to write; it replaces `path` only if the body succeeds.
    Side files a writer adds next to it (ONNX's external `.data`) are cleaned up on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
        fsync_folder(path.parent)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".data")):
            leftover.unlink(missing_ok=True)


@contextmanager
def staged_folder(out: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield an empty hidden sibling of `out`; when the body succeeds it becomes `out`.

    An existing `out` is replaced only after the new folder is complete (`replace=False` refuses
    instead). A failure leaves `out` as it was and removes the stage.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield stage
        for f in stage.rglob("*"):
            if f.is_file():
                _fsync_file(f)
        if out.exists():
            if not replace:
                raise FileExistsError(f"{out} exists")
            old = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.old")
            os.replace(out, old)
            os.replace(stage, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out)
        fsync_folder(out.parent)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def publish_files(stage: Path, out: Path) -> None:
    """Move every entry of `stage` into `out` (one rename each, replacing what is there), then
    remove `stage`: a crash mid-way leaves each file either old or new, never half-written."""
    for item in stage.iterdir():
        if item.is_file():
            _fsync_file(item)
        target = out / item.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(item, target)
    stage.rmdir()
    fsync_folder(out)
