"""A trained recommender folder, loaded for use: `Recommender.load(folder).recommend(...)`.

The folder (written by `recipe.train_recommender`):
  recommender.json   the marker: config, split record, re-ranker weights, training statistics
  encoder/           the fine-tuned sentence encoder (both towers)
  index/             the item tower's vectors in a `cotune.retrieval` vector index
  item_vectors.npy   the same vectors in catalog order (features and explanations)
  items.jsonl        the catalog: item, text, tags, year
  stats.json         per-item popularity and recent popularity in training
  histories.json     each known user's interactions, oldest first
  als.npz            the collaborative model (implicit's own format; no pickle)
  metrics.json       test metrics, warm and cold
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cotune.apps.recommend.pipeline import CollaborativeScores, HybridScorer
from cotune.apps.recommend.rerank import ItemStats, Reranker, features
from cotune.apps.recommend.towers import TowerScorer
from cotune.data.interactions import Item
from cotune.errors import ArtifactError, DataError

MARKER = "recommender.json"


@dataclass(frozen=True)
class HistoryItem:
    """One item of a history given by a client: a catalog id, or a new item's text."""

    item: str
    text: str | None = None


class Recommender:
    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        items: dict[str, Item],
        hybrid: HybridScorer,
        tower: TowerScorer,
        index: Any,
        histories: dict[str, list[str]],
    ) -> None:
        self.folder, self.meta, self.items = folder, meta, items
        self.hybrid, self.tower, self.index, self.histories = hybrid, tower, index, histories
        self.catalog = list(items)
        self.idx = {item: i for i, item in enumerate(self.catalog)}
        self.popular = np.argsort(-hybrid.stats.popularity, kind="stable")

    @classmethod
    def load(cls, folder: str | Path) -> Recommender:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        from cotune.retrieval.encoder import SentenceEncoder
        from cotune.retrieval.index import open_index

        folder = Path(folder)
        if not (folder / MARKER).is_file():
            raise ArtifactError(
                f"{folder} is not a recommender folder ({MARKER} missing)",
                where=str(folder),
                fix="train one with `cotune recommend train CONFIG`",
            )
        try:
            meta = json.loads((folder / MARKER).read_text(encoding="utf-8"))
            items = {}
            for line in (folder / "items.jsonl").read_text(encoding="utf-8").splitlines():
                raw = json.loads(line)
                items[raw["item"]] = Item(raw["item"], raw["text"], tuple(raw["tags"]), raw["year"])
            stats_raw = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
            histories = json.loads((folder / "histories.json").read_text(encoding="utf-8"))
            vectors = np.load(folder / "item_vectors.npy", allow_pickle=False)
            with threadpool_limits(1, "blas"):  # see baselines.ALS
                als = AlternatingLeastSquares.load(str(folder / "als.npz"))
            reranker = Reranker.from_json(meta["reranker"]) if meta.get("reranker") else None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ArtifactError(
                f"{folder} is an incomplete or damaged recommender: {e}",
                where=str(folder),
                fix="re-train it with `cotune recommend train CONFIG --overwrite`",
            ) from None
        catalog = list(items)
        stats = ItemStats(
            np.array(stats_raw["popularity"], dtype=np.float64),
            np.array(stats_raw["recent"], dtype=np.float64),
            [items[i].tags for i in catalog],
            np.array([np.nan if items[i].year is None else items[i].year for i in catalog]),
        )
        texts = {i: it.text for i, it in items.items()}
        encoder = SentenceEncoder.load(folder / "encoder")
        tower = TowerScorer(encoder, vectors, texts, int(meta["config"]["model"]["history_len"]))
        hybrid = HybridScorer(
            tower,
            CollaborativeScores(als, catalog),
            stats,
            reranker,
            int(meta["config"]["rank"]["candidates"]),
        )
        return cls(folder, meta, items, hybrid, tower, open_index(folder / "index"), histories)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.folder.name))

    def resolve_history(self, history: Sequence[HistoryItem | str]) -> list[HistoryItem]:
        """Catalog ids stay ids; an unknown id needs its text (a new item), else DataError."""
        out: list[HistoryItem] = []
        unknown = []
        for entry in history:
            h = entry if isinstance(entry, HistoryItem) else HistoryItem(str(entry))
            if h.item not in self.idx and not h.text:
                unknown.append(h.item)
            out.append(h)
        if unknown:
            raise DataError(
                f"{len(unknown)} history item(s) are not in the catalog: {unknown[:5]}",
                where="history",
                fix="use catalog item ids, or give a new item's text with it "
                '({"item": "x", "text": "..."})',
            )
        return out

    def recommend(
        self,
        user: str | None = None,
        history: Sequence[HistoryItem | str] | None = None,
        k: int = 10,
        explain: int = 3,
    ) -> dict[str, Any]:
        """Top-k unseen items with scores and, for each, the history items most like it.

        An unknown user or an empty history gets the most popular items, flagged
        (`fallback: "popularity"`) so a client can tell a guess from a recommendation."""
        if k < 1:
            raise DataError(f"k is {k}", where="k", fix="ask for at least 1 item")
        resolved: list[HistoryItem] = []
        reason = None
        if history is not None:
            resolved = self.resolve_history(history)
            if not resolved:
                reason = "empty history"
        elif user is not None:
            if user in self.histories:
                resolved = [HistoryItem(i) for i in self.histories[user]]
            else:
                reason = f"unknown user {user!r}"
        else:
            raise DataError("give a user or a history", fix="user: ID, or history: [item ids]")
        if reason is not None:
            return self._popular(k, set(), reason, user)
        return self._ranked(resolved, k, explain, user)

    def _popular(self, k: int, seen: set[str], reason: str, user: str | None) -> dict[str, Any]:
        top = [self.catalog[r] for r in self.popular if self.catalog[r] not in seen][:k]
        pop = self.hybrid.stats.popularity
        return {
            "user": user,
            "fallback": "popularity",
            "reason": reason,
            "items": [
                {
                    "item": i,
                    "text": self.items[i].text,
                    "score": float(pop[self.idx[i]]),
                    "because": [],
                }
                for i in top
            ],
        }

    def _ranked(
        self, history: list[HistoryItem], k: int, explain: int, user: str | None
    ) -> dict[str, Any]:
        known = [h.item for h in history if h.item in self.idx]
        texts = dict(self.tower.texts)
        texts.update({h.item: h.text for h in history if h.text and h.item not in self.idx})
        query = TowerScorer(self.tower.encoder, self.tower.vectors, texts, self.tower.history_len)
        user_vec = query.user_vectors([[h.item for h in history]])
        seen = set(known)
        # retrieve: the index's nearest items (over-fetched by the seen count), joined by the
        # collaborative model's best; text scores are then needed for the candidates only
        hits = self.index.search(user_vec, min(len(self.catalog), self.hybrid.n + len(known)))[0]
        by_text = np.array(
            [self.idx[i] for i, _ in hits if i not in seen][: self.hybrid.n], dtype=int
        )
        cf = self.hybrid.cf.score([known])[0]
        unseen = np.ones(len(self.catalog), dtype=bool)
        unseen[[self.idx[i] for i in known]] = False
        scored = np.flatnonzero(unseen & (cf != 0))
        by_cf = scored[np.argsort(-cf[scored], kind="stable")[: self.hybrid.n]]
        cands = np.union1d(by_text, by_cf).astype(int)
        text = np.zeros(len(self.catalog))
        text[cands] = self.tower.vectors[cands] @ user_vec[0]
        rows = [self.idx[i] for i in known]
        x = features(rows, cands, text, cf, self.hybrid.stats)
        scores = self.hybrid.reranker(x) if self.hybrid.reranker is not None else x[:, 0]
        order = np.argsort(-scores, kind="stable")[:k]
        hist_vecs = (
            query.user_vectors([[h.item]])[0]
            if h.item not in self.idx
            else self.tower.vectors[self.idx[h.item]]
            for h in history
        )
        hist_matrix = np.vstack(list(hist_vecs))
        out = []
        for o in order:
            c = int(cands[o])
            sims = hist_matrix @ self.tower.vectors[c]
            top = np.argsort(-sims, kind="stable")[:explain]
            out.append(
                {
                    "item": self.catalog[c],
                    "text": self.items[self.catalog[c]].text,
                    "score": float(1.0 / (1.0 + np.exp(-scores[o]))),
                    "text_score": float(text[c]),
                    "because": [
                        {
                            "item": history[t].item,
                            "text": texts.get(history[t].item, ""),
                            "similarity": float(sims[t]),
                        }
                        for t in top
                    ],
                }
            )
        return {"user": user, "fallback": None, "reason": None, "items": out}
