"""A vector index on Qdrant: the same client runs embedded (local mode, files in the index
folder) or against a Qdrant server (`url=`), for collections that outgrow one machine or must
be shared by several replicas of a service.

Local mode is qdrant-client's own pure-Python store (exact search with numpy): right for tests
and small folders, not for speed. A server builds HNSW and filters at scale. Qdrant point ids
must be integers or UUIDs, so each string id maps to a UUID5 and is kept in the payload.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cotune.errors import ArtifactError, ConfigError, DataError
from cotune.retrieval.index import INDEX_FILE, Hits, as_matrix, register_backend, write_json_atomic

LOCAL_DIR = "qdrant"
_NAMESPACE = uuid.UUID("6c8f1d1e-3b0a-4c55-9d6e-2f1b0c9a7e41")


def point_id(id_: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, id_))


class QdrantIndex:
    """Use `build_index("qdrant", dim, path=...)` (embedded) or `url=...` (a server)."""

    kind = "qdrant"

    def __init__(
        self,
        dim: int,
        *,
        path: str | Path | None = None,
        url: str | None = None,
        collection: str = "cotune",
        api_key: str | None = None,
        create: bool = True,
    ) -> None:
        from qdrant_client import QdrantClient, models

        if path is not None and url is not None:
            raise ConfigError("give the qdrant index a path or a url, not both")
        self.dim, self.collection, self.url = dim, collection, url
        self.path = Path(path) if path is not None else None
        try:
            if url is not None:
                self.client = QdrantClient(url=url, api_key=api_key)
            elif self.path is not None:
                self.client = QdrantClient(path=str(self.path))
            else:
                self.client = QdrantClient(location=":memory:")
            exists = self.client.collection_exists(collection)
        except Exception as e:  # connection refused, a folder held by another process
            raise ArtifactError(
                f"cannot open Qdrant at {url or self.path or ':memory:'}: {e}",
                where="index",
                fix="start the Qdrant server / close the other process holding the folder",
            ) from None
        if not exists:
            if not create:
                raise ArtifactError(
                    f"Qdrant collection {collection!r} does not exist",
                    fix="build the index again",
                )
            self.client.create_collection(
                collection,
                vectors_config=models.VectorParams(size=dim, distance=models.Distance.DOT),
            )

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        from qdrant_client import models

        matrix = as_matrix(vectors, self.dim)
        ids = [str(i) for i in ids]
        if len(ids) != len(matrix):
            raise DataError(f"{len(ids)} ids for {len(matrix)} vectors", fix="one id per row")
        if len(set(ids)) != len(ids):
            raise DataError("the ids given repeat", fix="ids must be unique")
        for start in range(0, len(ids), 1000):
            chunk = [point_id(i) for i in ids[start : start + 1000]]
            found = self.client.retrieve(self.collection, chunk, with_payload=True)
            if found:
                raise DataError(
                    f"id {found[0].payload.get('id')!r} is already in the index",  # type: ignore[union-attr]
                    fix="ids must be unique: build a new index to replace entries",
                )
        points = (
            models.PointStruct(id=point_id(i), vector=v.tolist(), payload={"id": i})
            for i, v in zip(ids, matrix, strict=True)
        )
        self.client.upload_points(self.collection, points, batch_size=256, wait=True)

    def search(self, queries: np.ndarray, k: int) -> Hits:
        from qdrant_client import models

        matrix = as_matrix(queries, self.dim, "queries")
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        requests = [
            models.QueryRequest(query=q.tolist(), limit=k, with_payload=True) for q in matrix
        ]
        answers = self.client.query_batch_points(self.collection, requests=requests)
        return [
            [(str(p.payload["id"]), float(p.score)) for p in answer.points if p.payload]
            for answer in answers
        ]

    def __len__(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def save(self, folder: str | Path) -> Path:
        """A server index saves only where to find it; an embedded one copies its points into
        `folder/qdrant` unless it already lives there."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {"kind": self.kind, "dim": self.dim, "collection": self.collection}
        if self.url is not None:
            meta["url"] = self.url
        else:
            target = folder / LOCAL_DIR
            if self.path is None or self.path.resolve() != target.resolve():
                copy = QdrantIndex(self.dim, path=target, collection=self.collection)
                try:
                    for ids, vectors in self._chunks():
                        copy.add(ids, vectors)
                finally:
                    copy.close()
        meta["count"] = len(self)
        write_json_atomic(folder / INDEX_FILE, meta)
        return folder

    def _chunks(self, size: int = 1000) -> Any:
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.collection, limit=size, offset=offset, with_payload=True, with_vectors=True
            )
            if points:
                ids = [str(p.payload["id"]) for p in points if p.payload]
                yield ids, np.asarray([p.vector for p in points], dtype=np.float32)
            if offset is None:
                return

    def close(self) -> None:
        """Release the folder lock (local mode) or the connection."""
        self.client.close()


def build_qdrant(dim: int, **options: Any) -> QdrantIndex:
    allowed = {"path", "url", "collection", "api_key"}
    unknown = set(options) - allowed
    if unknown:
        raise ConfigError(f"unknown qdrant options {sorted(unknown)}", fix=f"use {sorted(allowed)}")
    return QdrantIndex(dim, **options)


def open_qdrant(folder: Path, meta: dict[str, Any]) -> QdrantIndex:
    dim, collection = int(meta["dim"]), str(meta.get("collection", "cotune"))
    if "url" in meta:
        return QdrantIndex(dim, url=str(meta["url"]), collection=collection, create=False)
    return QdrantIndex(dim, path=folder / LOCAL_DIR, collection=collection, create=False)


register_backend("qdrant", build_qdrant, open_qdrant)
