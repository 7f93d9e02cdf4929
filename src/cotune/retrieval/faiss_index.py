"""Embedded vector indexes on faiss, persisted as files in the index folder.

`flat` (IndexFlatIP) compares a query with every vector: exact, and at the sizes an FAQ has
(thousands) faster than building anything cleverer. `hnsw` (IndexHNSWFlat, inner product) is a
graph index: approximate, but its query time grows roughly with log n, for 10^5+ entries.
Faiss numbers vectors 0..n-1; the string ids are kept beside it in order.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from cotune.errors import ArtifactError, ConfigError
from cotune.retrieval.index import (
    INDEX_FILE,
    Hits,
    as_matrix,
    check_new_ids,
    register_backend,
    write_json_atomic,
)

FAISS_FILE = "vectors.faiss"
IDS_FILE = "ids.json"


class FaissIndex:
    """One faiss index plus its string ids. Use `build_index("flat"|"hnsw", dim)`."""

    def __init__(self, kind: str, dim: int, index: Any, ids: list[str], options: dict[str, Any]):
        self.kind, self.dim, self._index, self._ids = kind, dim, index, ids
        self._known = {i: n for n, i in enumerate(ids)}
        self.options = options

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        matrix = as_matrix(vectors, self.dim)
        new = check_new_ids(ids, self._known, len(matrix))
        if not new:
            return
        self._index.add(matrix)
        for i in new:
            self._known[i] = len(self._ids)
            self._ids.append(i)

    def search(self, queries: np.ndarray, k: int) -> Hits:
        matrix = as_matrix(queries, self.dim, "queries")
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        if not self._ids:
            return [[] for _ in range(len(matrix))]
        if self.kind == "hnsw":
            # efSearch bounds how many graph nodes a query visits: at least k of them
            self._index.hnsw.efSearch = max(int(self.options.get("ef_search", 64)), k)
        scores, rows = self._index.search(matrix, min(k, len(self._ids)))
        return [
            [(self._ids[r], float(s)) for r, s in zip(row, srow, strict=True) if r >= 0]
            for row, srow in zip(rows, scores, strict=True)
        ]

    def __len__(self) -> int:
        return len(self._ids)

    def vector(self, id_: str) -> np.ndarray:
        """The stored vector of `id_` (a KeyError if unknown)."""
        return np.asarray(self._index.reconstruct(self._known[id_]), dtype=np.float32)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{FAISS_FILE}.", suffix=".tmp")
        os.close(fd)
        try:
            faiss.write_index(self._index, tmp)
            os.replace(tmp, folder / FAISS_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        write_json_atomic(folder / IDS_FILE, self._ids)
        meta = {"kind": self.kind, "dim": self.dim, "count": len(self._ids), **self.options}
        write_json_atomic(folder / INDEX_FILE, meta)
        return folder


def build_flat(dim: int) -> FaissIndex:
    return FaissIndex("flat", dim, faiss.IndexFlatIP(dim), [], {})


def build_hnsw(dim: int, m: int = 32, ef_construction: int = 80, ef_search: int = 64) -> FaissIndex:
    """`m`: graph links per node; `ef_construction`/`ef_search`: breadth of the build/query
    walks (higher = better recall, slower)."""
    for name, value in (("m", m), ("ef_construction", ef_construction), ("ef_search", ef_search)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"hnsw option {name} must be a positive integer, got {value!r}")
    index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.hnsw.efSearch = ef_search
    options = {"m": m, "ef_construction": ef_construction, "ef_search": ef_search}
    return FaissIndex("hnsw", dim, index, [], options)


def open_faiss(folder: Path, meta: dict[str, Any]) -> FaissIndex:
    import json

    try:
        index = faiss.read_index(str(folder / FAISS_FILE))
        ids = json.loads((folder / IDS_FILE).read_text(encoding="utf-8"))
    except (RuntimeError, OSError, ValueError) as e:
        raise ArtifactError(
            f"cannot read the {meta['kind']} index in {folder}: {e}",
            where=str(folder),
            fix="rebuild the index",
        ) from None
    if index.ntotal != len(ids) or index.d != meta.get("dim"):
        raise ArtifactError(
            f"{folder}: {index.ntotal} vectors of dim {index.d} but {len(ids)} ids "
            f"and dim {meta.get('dim')} recorded: the files are out of step",
            where=str(folder),
            fix="rebuild the index",
        )
    options = {k: v for k, v in meta.items() if k not in ("kind", "dim", "count")}
    return FaissIndex(meta["kind"], int(index.d), index, list(ids), options)


register_backend("flat", build_flat, open_faiss)
register_backend("hnsw", build_hnsw, open_faiss)
