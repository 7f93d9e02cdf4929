"""Retrieval shared by the applications: sentence embeddings, vector indexes, BM25, fusion.

    encoder = SentenceEncoder("minilm-l6")          # mean pooling, unit float32 vectors
    index = build_index("flat", encoder.dim)         # or "hnsw", or "qdrant" (path=/url=)
    index.add(ids, encoder.encode(texts))
    index.search(encoder.encode(["where is my card"]), k=5)   # [[(id, cosine), ...]]
    index.save(folder); open_index(folder)

`fine_tune(encoder, pairs)` adapts the encoder contrastively (in-batch negatives);
`LexicalIndex` scores with BM25 and `fuse` merges the ranked lists. Apps build on these
and keep only their own logic (thresholds, ranking rules).
"""

from __future__ import annotations

from cotune.retrieval.contrastive import ContrastiveConfig, fine_tune
from cotune.retrieval.encoder import SentenceEncoder
from cotune.retrieval.fusion import fuse, reciprocal_rank_fusion, score_mix
from cotune.retrieval.index import (
    DEFAULT_KIND,
    VectorIndex,
    backends,
    build_index,
    open_index,
    register_backend,
)
from cotune.retrieval.lexical import LexicalIndex, tokenize

__all__ = [
    "DEFAULT_KIND",
    "ContrastiveConfig",
    "LexicalIndex",
    "SentenceEncoder",
    "VectorIndex",
    "backends",
    "build_index",
    "fine_tune",
    "fuse",
    "open_index",
    "reciprocal_rank_fusion",
    "register_backend",
    "score_mix",
    "tokenize",
]
