"""The vector index interface, its registry of backends, and opening a saved index.

Every backend stores unit vectors under string ids and answers inner-product (= cosine) top-k
searches. A saved index is a folder holding `index.json` (`kind`, `dim`, options) plus whatever
the backend writes; `open_index(folder)` reads any of them back. Adding a backend is one module
with a class that satisfies `VectorIndex` and one `register_backend` line.

Backends shipped:
  flat    faiss IndexFlatIP: exact; the default (see docs/assistant.md for the measurements)
  hnsw    faiss IndexHNSWFlat: approximate, sub-linear queries for large collections
  qdrant  qdrant-client: local mode (`path`, in the folder) or a Qdrant server (`url`)
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from cotune.errors import ArtifactError, ConfigError, DataError

INDEX_FILE = "index.json"
Hits = list[list[tuple[str, float]]]


@runtime_checkable
class VectorIndex(Protocol):
    kind: str
    dim: int

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Store `vectors[i]` under `ids[i]`; an id already stored is refused."""
        ...

    def search(self, queries: np.ndarray, k: int) -> Hits:
        """For each query row, up to k (id, inner product) pairs, best first."""
        ...

    def __len__(self) -> int: ...

    def save(self, folder: str | Path) -> Path:
        """Persist into `folder` so that `open_index(folder)` reads it back."""
        ...


Opener = Callable[[Path, dict[str, Any]], VectorIndex]
Builder = Callable[..., VectorIndex]
_BACKENDS: dict[str, tuple[Builder, Opener]] = {}
DEFAULT_KIND = "flat"


def register_backend(kind: str, build: Builder, open_: Opener) -> None:
    """`build(dim, **options)` makes an empty index; `open_(folder, meta)` reads a saved one."""
    _BACKENDS[kind] = (build, open_)


def backends() -> list[str]:
    _load_builtin()
    return sorted(_BACKENDS)


def _load_builtin() -> None:
    # imported here so that `import cotune.retrieval` does not load faiss and qdrant
    from cotune.retrieval import faiss_index, qdrant_index  # noqa: F401


def build_index(kind: str = DEFAULT_KIND, dim: int = 384, **options: Any) -> VectorIndex:
    """An empty index of backend `kind` for `dim`-dimensional unit vectors."""
    _load_builtin()
    if kind not in _BACKENDS:
        raise ConfigError(
            f"unknown index backend {kind!r}",
            where="index",
            fix=f"use one of {sorted(_BACKENDS)}",
        )
    if not isinstance(dim, int) or dim < 1:
        raise ConfigError(f"index dimension must be a positive integer, got {dim!r}")
    return _BACKENDS[kind][0](dim, **options)


def open_index(folder: str | Path) -> VectorIndex:
    """Read back an index saved by any backend's `save(folder)`."""
    _load_builtin()
    folder = Path(folder)
    meta_path = folder / INDEX_FILE
    if not meta_path.is_file():
        raise ArtifactError(
            f"{folder} holds no saved vector index ({INDEX_FILE} missing)",
            where=str(folder),
            fix="save one with index.save(folder), or point at the folder that holds index.json",
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        kind = meta["kind"]
    except (ValueError, KeyError, TypeError) as e:
        raise ArtifactError(
            f"{meta_path} is not a valid index description: {e}",
            where=str(meta_path),
            fix="rebuild and save the index",
        ) from None
    if kind not in _BACKENDS:
        raise ArtifactError(
            f"{meta_path} names the unknown backend {kind!r}",
            where=str(meta_path),
            fix=f"known backends: {sorted(_BACKENDS)}",
        )
    return _BACKENDS[kind][1](folder, meta)


# helpers the backends share ---------------------------------------------------------------


def as_matrix(vectors: Any, dim: int, what: str = "vectors") -> np.ndarray:
    """A C-contiguous float32 (n, dim) matrix, or a DataError naming the shape problem."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise DataError(
            f"{what} have shape {tuple(np.shape(vectors))}, the index holds {dim}-dim vectors",
            fix=f"encode with the same encoder the index was built with (dim {dim})",
        )
    if not np.isfinite(arr).all():
        raise DataError(f"{what} hold NaN or infinite values", fix="check the encoder output")
    return np.ascontiguousarray(arr)


def check_new_ids(ids: Sequence[str], known: set[str] | dict[str, Any], n: int) -> list[str]:
    ids = [str(i) for i in ids]
    if len(ids) != n:
        raise DataError(f"{len(ids)} ids for {n} vectors", fix="give one id per vector row")
    seen: set[str] = set()
    for i in ids:
        if i in known or i in seen:
            raise DataError(
                f"id {i!r} is already in the index",
                fix="ids must be unique: build a new index to replace entries",
            )
        seen.add(i)
    return ids


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temp file in the same folder, then rename: a crash leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
