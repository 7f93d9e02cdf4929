"""The assistant served by `cotune serve` beside the models (the serving mount).

  POST /v1/assistants/{name}/ask   {"text": "..."} -> the answer (same keys, limits, metrics)
  GET  /v1/assistants/{name}       what it knows: intents, FAQ size, threshold
  GET  /assistants/{name}          the chat page (plain HTML/JS/CSS from this package, no CDN)

Answers are computed in a worker thread (the model is CPU-bound; the event loop stays free) and
every query is logged to the folder's queries.db.
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.concurrency import run_in_threadpool

from cotune.apps.assistant.engine import Assistant
from cotune.apps.assistant.log import QueryLog
from cotune.errors import DataError
from cotune.serving.errors import ApiError
from cotune.serving.limits import check_texts
from cotune.serving.mounts import MountContext
from cotune.serving.settings import ServeSettings

_STATIC = {"chat.js": "text/javascript", "chat.css": "text/css"}


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "I lost my card"}]}
    )
    text: StrictStr = Field(..., description="The customer's message.")


class Candidate(BaseModel):
    faq_id: str
    score: float


class AskResponse(BaseModel):
    intent: str | None = Field(description="Predicted intent; null when out of scope.")
    confidence: float = Field(description="Intent probability, lowered when the answer disagrees.")
    answer: str | None
    faq_id: str | None
    handoff: bool = Field(description="Hand the customer to a person.")
    reason: str | None = Field(description="Why it hands off (or why confidence dropped).")
    candidates: list[Candidate]
    lang: str
    text: str
    top_intent: str
    scores: dict[str, Any]


class AssistantMount:
    kind = "assistants"

    def __init__(self, name: str, folder: Path, settings: ServeSettings) -> None:
        self.name, self.folder, self.settings = name, folder, settings
        self.bot = Assistant.load(folder)
        self.log: QueryLog | None = None
        self._lock = threading.Lock()  # one model: answer one batch at a time

    async def start(self) -> None:
        self.log = QueryLog(self.folder / "queries.db")

    async def stop(self) -> None:
        if self.log is not None:
            self.log.close()

    def _answer(self, text: str) -> dict[str, Any]:
        with self._lock:
            answer = self.bot.ask(text)
        if self.log is not None:
            self.log.record([answer], "api")
        return answer

    def router(self, ctx: MountContext) -> APIRouter:
        from cotune.serving.app import error_responses

        router = APIRouter(tags=["assistants"])
        base = f"/v1/assistants/{self.name}"

        @router.post(
            f"{base}/ask",
            response_model=AskResponse,
            dependencies=list(ctx.protected),
            responses=error_responses(400, *ctx.auth_codes, 408, 413, 415, 422, 500),
        )
        async def ask(request: AskRequest) -> Any:
            """Intent (null: out of scope), answer and FAQ id, hand-off, top FAQ candidates."""
            check_texts([request.text], ctx.settings)
            try:
                return await run_in_threadpool(self._answer, request.text)
            except DataError as e:
                raise ApiError(422, "invalid_request", e.what, fix=e.fix) from None

        @router.get(
            base, dependencies=list(ctx.protected), responses=error_responses(*ctx.auth_codes)
        )
        async def info() -> dict[str, Any]:
            meta = self.bot.meta
            return {
                "name": self.name,
                "intents": sorted(meta["card"]["per_intent"]),
                "faq_entries": len(self.bot.faq),
                "threshold": meta["threshold"],
                # what a query in each language is held to (others: "threshold")
                "threshold_by_lang": self.bot.threshold_by_lang,
                "lexical_weight": self.bot.lexical_weight,
                "built_at": meta["card"]["built_at"],
            }

        @router.get(
            f"/assistants/{self.name}", response_class=HTMLResponse, include_in_schema=False
        )
        async def page() -> HTMLResponse:
            html = _asset("chat.html").replace("{{NAME}}", _escape(self.name))
            return HTMLResponse(html)

        @router.get(f"/assistants/{self.name}/static/{{file}}", include_in_schema=False)
        async def static(file: str) -> Response:
            if file not in _STATIC:
                raise ApiError(404, "not_found", f"no static file {file!r}")
            return Response(_asset(file), media_type=_STATIC[file])

        return router


def _asset(name: str) -> str:
    return resources.files("cotune.apps.assistant").joinpath("page", name).read_text("utf-8")


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def load_mount(name: str, folder: Path, settings: ServeSettings) -> AssistantMount:
    return AssistantMount(name, folder, settings)
