"""The recommender served beside the models (`cotune serve FOLDER`).

Routes (they share the server's API keys, body limits, JSON errors and metrics):
  GET  /v1/recommenders/{name}              what it is: items, users, metrics
  POST /v1/recommenders/{name}/recommend    {"user": ID} or {"history": [...]}, "k"
"""

from __future__ import annotations

import threading
from enum import Enum
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator
from starlette.concurrency import run_in_threadpool

from cotune.apps.recommend.model import HistoryItem, Recommender
from cotune.errors import DataError
from cotune.serving.errors import ApiError
from cotune.serving.mounts import MountContext
from cotune.serving.settings import ServeSettings


class HistoryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: StrictStr | StrictInt = Field(..., description="The item's id.")
    text: StrictStr | None = Field(None, description="Its text, for an item the catalog lacks.")


class RecommendRequest(BaseModel):
    """Who to recommend for: a known `user`, or a `history` (oldest first) of item ids or
    {"item", "text"} objects. Ids are strings or integers."""

    model_config = ConfigDict(extra="forbid")
    user: StrictStr | StrictInt | None = Field(None, description="A user id the model knows.")
    history: list[StrictStr | StrictInt | HistoryEntry] | None = Field(
        None, description="The items a user chose, oldest first."
    )
    k: StrictInt = Field(10, ge=1, le=1000, description="How many items.")
    explain: StrictInt = Field(3, ge=0, le=20, description="History items shown per item.")

    @model_validator(mode="after")
    def _one(self) -> RecommendRequest:
        if (self.user is None) == (self.history is None):
            raise ValueError("give exactly one of user or history")
        return self


class RecommenderMount:
    kind = "recommenders"

    def __init__(self, name: str, recommender: Recommender) -> None:
        self.name, self.model = name, recommender
        self._lock = threading.Lock()  # torch on two cores: one request computes at a time

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def _recommend(self, request: RecommendRequest) -> dict[str, Any]:
        history = None
        if request.history is not None:
            history = [
                HistoryItem(str(h.item), h.text)
                if isinstance(h, HistoryEntry)
                else HistoryItem(str(h))
                for h in request.history
            ]
        user = None if request.user is None else str(request.user)
        with self._lock:
            try:
                return self.model.recommend(
                    user=user, history=history, k=request.k, explain=request.explain
                )
            except DataError as e:
                raise ApiError(422, "invalid_request", str(e)) from None

    def router(self, ctx: MountContext) -> APIRouter:
        r = APIRouter()
        api = f"/v1/recommenders/{self.name}"
        deps = list(ctx.protected)
        tags: list[str | Enum] = ["recommenders"]

        @r.get(api, dependencies=deps, tags=tags)
        async def info() -> dict[str, Any]:
            meta = self.model.meta
            return {
                "name": self.name,
                "items": len(self.model.items),
                "users": len(self.model.histories),
                "backbone": meta["config"]["model"]["backbone"],
                "split": meta.get("split"),
            }

        @r.post(f"{api}/recommend", dependencies=deps, tags=tags)
        async def recommend(request: RecommendRequest) -> dict[str, Any]:
            """Top-k unseen items with scores, each with the history items most like it. An
            unknown user or an empty history answers the most popular items, with
            `fallback: "popularity"` and the reason."""
            return await run_in_threadpool(self._recommend, request)

        return r


def load_mount(name: str, folder: Path, settings: ServeSettings) -> RecommenderMount:
    return RecommenderMount(name, Recommender.load(folder))
