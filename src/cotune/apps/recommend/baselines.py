"""Scorers that rank every catalog item for a user's history: the baselines and the towers.

A scorer maps (users, histories) to a (n, n_items) score matrix in catalog order; the
evaluation ranks each case's pool by it. Baselines: popularity, item-kNN (cosine over the
training user-item matrix), ALS matrix factorisation (`implicit`), TF-IDF content similarity,
and frozen sentence embeddings (minilm-l6, no fine-tuning).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from cotune.apps.recommend.splits import Split


class Scorer(Protocol):
    name: str

    def score(self, users: Sequence[str], histories: Sequence[Sequence[str]]) -> np.ndarray: ...


def item_index(items: Sequence[str]) -> dict[str, int]:
    return {item: i for i, item in enumerate(items)}


def train_matrix(split: Split) -> tuple[sparse.csr_matrix, dict[str, int]]:
    """Binary users x items matrix of the training interactions, and the user row index."""
    idx = item_index(split.items)
    users = sorted(split.train)
    rows, cols = [], []
    for u, user in enumerate(users):
        for item in split.train[user]:
            rows.append(u)
            cols.append(idx[item])
    data = np.ones(len(rows), dtype=np.float32)
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(len(users), len(split.items)))
    return matrix, {user: u for u, user in enumerate(users)}


def history_matrix(histories: Sequence[Sequence[str]], idx: dict[str, int]) -> sparse.csr_matrix:
    rows, cols = [], []
    for r, history in enumerate(histories):
        for item in set(history):
            if item in idx:
                rows.append(r)
                cols.append(idx[item])
    data = np.ones(len(rows), dtype=np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(histories), len(idx)))


class Popularity:
    """How often each item was chosen in training; the same list for everyone."""

    name = "popularity"

    def __init__(self, split: Split) -> None:
        matrix, _ = train_matrix(split)
        self.counts = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()

    def score(self, users: Sequence[str], histories: Sequence[Sequence[str]]) -> np.ndarray:
        return np.tile(self.counts, (len(histories), 1))


def knn_similarity(matrix: sparse.csr_matrix, neighbours: int = 100) -> sparse.csr_matrix:
    """Item-item cosine over the users who chose them, each row cut to its top neighbours
    (the usual item-kNN; the cut also keeps the served matrix small)."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    normalised = matrix.multiply(1.0 / norms[None, :]).tocsc()
    sim = (normalised.T @ normalised).toarray().astype(np.float32)
    np.fill_diagonal(sim, 0.0)
    if neighbours < sim.shape[1]:
        cut = np.argpartition(-sim, neighbours, axis=1)[:, neighbours:]
        np.put_along_axis(sim, cut, 0.0, axis=1)
    return sparse.csr_matrix(sim)


class ItemKNN:
    """Sum of the history items' cosine similarities to each item (Sarwar et al. 2001)."""

    name = "item-knn"

    def __init__(self, split: Split, neighbours: int = 100) -> None:
        matrix, _ = train_matrix(split)
        self.idx = item_index(split.items)
        self.sim = knn_similarity(matrix, neighbours)

    def score(self, users: Sequence[str], histories: Sequence[Sequence[str]]) -> np.ndarray:
        return np.asarray((history_matrix(histories, self.idx) @ self.sim).todense())


class ALS:
    """Implicit-feedback ALS (Hu, Koren, Volinsky 2008) from the `implicit` library; a user's
    factors are re-solved from the history given, so dev and test histories both work."""

    name = "als"

    def __init__(
        self,
        split: Split,
        factors: int = 64,
        iterations: int = 15,
        seed: int = 0,
        alpha: float = 10.0,
    ) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        matrix, _ = train_matrix(split)
        self.idx = item_index(split.items)
        self.alpha = alpha
        # implicit's own threads do the work; a BLAS pool inside each would oversubscribe
        # (implicit warns about it at construction)
        with threadpool_limits(1, "blas"):
            self.model: Any = AlternatingLeastSquares(
                factors=factors,
                iterations=iterations,
                regularization=0.05,
                alpha=alpha,
                random_state=seed,
                num_threads=2,
            )
            self.model.fit(matrix, show_progress=False)

    def score(self, users: Sequence[str], histories: Sequence[Sequence[str]]) -> np.ndarray:
        rows = history_matrix(histories, self.idx)
        user_factors = self.model.recalculate_user(np.arange(len(histories)), rows)
        return np.asarray(user_factors @ self.model.item_factors.T)


def mean_profile(
    vectors: np.ndarray, histories: Sequence[Sequence[str]], idx: dict[str, int]
) -> np.ndarray:
    """Each history's mean item vector, unit length (zero for an empty history)."""
    out = np.zeros((len(histories), vectors.shape[1]), dtype=np.float32)
    for r, history in enumerate(histories):
        rows = [idx[i] for i in history if i in idx]
        if rows:
            out[r] = vectors[rows].mean(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)


class TfidfContent:
    """Cosine between each item's TF-IDF text vector and the mean of the history's."""

    name = "tf-idf"

    def __init__(self, split: Split, texts: dict[str, str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.idx = item_index(split.items)
        vectoriser = TfidfVectorizer(sublinear_tf=True)
        self.vectors = vectoriser.fit_transform([texts[i] for i in split.items]).astype(np.float32)

    def score(self, users: Sequence[str], histories: Sequence[Sequence[str]]) -> np.ndarray:
        profile = history_matrix(histories, self.idx)
        counts = np.asarray(profile.sum(axis=1)).ravel()
        profile = sparse.diags(1.0 / np.maximum(counts, 1.0)) @ profile @ self.vectors
        return np.asarray((profile @ self.vectors.T).todense())


class FrozenMean:
    """Off-the-shelf sentence embeddings: cosine between each item's vector and the mean of the
    history items' vectors (the encoder as shipped, no fine-tuning)."""

    name = "minilm-l6 frozen"

    def __init__(self, split: Split, item_vectors: np.ndarray) -> None:
        self.idx = item_index(split.items)
        self.vectors = item_vectors

    def score(self, users: Sequence[str], histories: Sequence[Sequence[str]]) -> np.ndarray:
        return mean_profile(self.vectors, histories, self.idx) @ self.vectors.T
