"""The HTTP service: `create_app(settings, models)` builds the FastAPI app.

Layers, outside in: metrics (every answer counted, limit refusals included) -> body limit and
UTF-8 check (before any parsing) -> FastAPI (validation, auth, routes) -> one micro-batcher per
model -> the model's inference thread. Every failure a client can cause is a JSON error
{"error": {"type", "message", ...}}; none of them reaches the batcher or the model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Security
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from cotune import __version__
from cotune.serving.auth import HEADER, ApiKeys
from cotune.serving.backends import Backend
from cotune.serving.batcher import InferenceFailed, MicroBatcher, Overloaded, Stopped
from cotune.serving.docs import install_docs
from cotune.serving.edge import HeadMiddleware, install_error_handlers
from cotune.serving.errors import ApiError
from cotune.serving.explain import ExplainerPool, check_explain_limits
from cotune.serving.limits import BodyLimitMiddleware, check_texts
from cotune.serving.metrics import CONTENT_TYPE, MetricsMiddleware, ServingMetrics
from cotune.serving.mounts import Mount, MountContext
from cotune.serving.schemas import (
    ErrorResponse,
    HealthResponse,
    ModelInfo,
    ModelsResponse,
    PredictRequest,
    PredictResponse,
    ReadyResponse,
)
from cotune.serving.settings import ServeSettings

log = logging.getLogger("cotune.serving")

ERRORS: dict[int, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in [
        (400, "The body is not UTF-8, or Content-Length is not a number."),
        (401, "Missing or unknown API key (when keys are configured)."),
        (404, "No model of that name."),
        (408, "The request body did not arrive within timeout_s."),
        (413, "A limit was exceeded: max_body_bytes, max_texts or max_chars."),
        (415, "The body was not sent as Content-Type: application/json."),
        (422, "Malformed request: invalid JSON, wrong fields or types."),
        (500, "The model failed on a text; the server log has details."),
        (503, "Overloaded (max_queue) or shutting down; retry later."),
        (504, "The prediction took longer than timeout_s."),
    ]
}


def error_responses(*codes: int, text_route: bool = False) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route: only the errors it can answer with.

    FastAPI files a `model` under the route's own media type, so a text/plain route (/metrics)
    names the JSON error body by reference instead.
    """
    if not text_route:
        return {code: ERRORS[code] for code in codes}
    schema = {"$ref": "#/components/schemas/ErrorResponse"}
    return {
        code: {
            "description": ERRORS[code]["description"],
            "content": {"application/json": {"schema": schema}},
        }
        for code in codes
    }


def shape_prediction(row: dict[str, Any], request: PredictRequest, info: ModelInfo) -> Any:
    """Apply the request's threshold (multi-label) and top_k to a model's full answer."""
    if "entities" in row:
        return row
    scores: dict[str, float] = row["scores"]
    labels = row["labels"]
    if request.threshold is not None:
        labels = [k for k, v in scores.items() if v >= request.threshold]
    if request.top_k is not None:
        scores = dict(list(scores.items())[: request.top_k])
    label = labels[0] if len(labels) == 1 else None
    return {"label": label, "labels": labels, "scores": scores}


def create_app(
    settings: ServeSettings, models: Mapping[str, Backend], mounts: Sequence[Mount] = ()
) -> FastAPI:
    keys = ApiKeys.from_settings(settings)
    metrics = ServingMetrics()
    batchers = {
        name: MicroBatcher(
            name,
            backend.predict_texts,
            max_batch=settings.max_batch,
            max_wait_ms=settings.max_wait_ms,
            max_queue=settings.max_queue,
            metrics=metrics,
        )
        for name, backend in models.items()
    }
    ready = asyncio.Event()
    explainers = ExplainerPool()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for batcher in batchers.values():
            await batcher.start()
        for mount in mounts:
            await mount.start()
        ready.set()
        log.info(
            "serving %s",
            ", ".join(
                [f"{n} ({m.info.backend})" for n, m in models.items()]
                + [f"{m.kind}/{m.name}" for m in mounts]
            ),
        )
        try:
            yield
        finally:
            # uvicorn has already finished the in-flight requests; drain what is left queued.
            ready.clear()
            for mount in mounts:
                await mount.stop()
            for batcher in batchers.values():
                await batcher.stop()

    app = FastAPI(
        title="cotune",
        version=__version__,
        summary="Predictions from cotune artifacts: NER spans and text labels.",
        lifespan=lifespan,
        docs_url=None,  # /docs is served from the package's files (serving/docs.py), no CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.settings, app.state.metrics, app.state.batchers = settings, metrics, batchers

    api_key_header = APIKeyHeader(name=HEADER, auto_error=False)
    bearer = HTTPBearer(auto_error=False)

    async def authorized(
        api_key: str | None = Security(api_key_header),
        token: HTTPAuthorizationCredentials | None = Security(bearer),
    ) -> None:
        assert keys is not None
        keys.require(api_key, token.credentials if token else None)

    protected = [Depends(authorized)] if keys is not None else []
    auth = (401,) if keys is not None else ()

    def backend_of(name: str) -> Backend:
        if name not in models:
            raise ApiError(
                404, "unknown_model", f"no model named {name!r}: GET /v1/models lists them"
            )
        return models[name]

    @app.get("/healthz", response_model=HealthResponse, tags=["health"])
    async def healthz() -> HealthResponse:
        """Liveness: the process answers."""
        return HealthResponse(status="ok")

    @app.get(
        "/readyz",
        response_model=ReadyResponse,
        tags=["health"],
        responses={503: {"model": ReadyResponse}},
    )
    async def readyz() -> Any:
        """Readiness: models loaded and batchers running (503 while starting or stopping)."""
        up = ready.is_set() and all(b.running for b in batchers.values())
        body = ReadyResponse(status="ready" if up else "not ready", models=list(models))
        return body if up else JSONResponse(body.model_dump(), status_code=503)

    @app.get(
        "/metrics",
        tags=["health"],
        dependencies=protected,
        response_class=PlainTextResponse,
        responses=error_responses(*auth, text_route=True),
    )
    async def prometheus() -> PlainTextResponse:
        """Prometheus text format: requests, errors, latency, batch sizes, queue depth."""
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)

    @app.get(
        "/v1/models",
        response_model=ModelsResponse,
        dependencies=protected,
        tags=["models"],
        responses=error_responses(*auth),
    )
    async def list_models() -> ModelsResponse:
        return ModelsResponse(models=[m.info for m in models.values()])

    @app.get(
        "/v1/models/{name}",
        response_model=ModelInfo,
        dependencies=protected,
        tags=["models"],
        responses=error_responses(*auth, 404, 422),
    )
    async def get_model(name: str) -> ModelInfo:
        return backend_of(name).info

    @app.post(
        "/v1/models/{name}/predict",
        response_model=PredictResponse,
        dependencies=protected,
        tags=["models"],
        responses=error_responses(400, *auth, 404, 408, 413, 415, 422, 500, 503, 504),
    )
    async def predict(name: str, request: PredictRequest) -> PredictResponse:
        """NER: entity spans with character offsets. Classification: label(s) and scores."""
        info = backend_of(name).info
        texts = request.all_texts()
        check_texts(texts, settings)
        if request.threshold is not None and not info.multi_label:
            raise ApiError(422, "invalid_request", f"threshold: {name!r} is not multi-label")
        if request.top_k is not None and info.task == "token-classification":
            raise ApiError(422, "invalid_request", f"top_k: {name!r} is an NER model")
        if request.explain:
            check_explain_limits(texts)
        try:
            rows = await asyncio.wait_for(batchers[name].submit(texts), settings.timeout_s)
        except TimeoutError:
            raise ApiError(
                504,
                "timeout",
                f"the prediction took longer than timeout_s={settings.timeout_s:g}",
                limit="timeout_s",
                max=settings.timeout_s,
            ) from None
        except Overloaded as e:
            raise ApiError(503, "overloaded", str(e), headers={"Retry-After": "1"}) from None
        except Stopped as e:
            raise ApiError(503, "shutting_down", str(e)) from None
        except InferenceFailed as e:
            raise ApiError(500, "inference_failed", f"{e}; the server log has details") from None
        predictions = [shape_prediction(r, request, info) for r in rows]
        body = {"model": name, "task": info.task, "predictions": predictions}
        if request.explain:
            body["explanations"] = await explainers.explain(
                name, models[name], texts, settings.timeout_s
            )
        return PredictResponse.model_validate(body)

    context = MountContext(settings, protected, auth)
    for mount in mounts:
        app.include_router(mount.router(context))

    install_error_handlers(app, keys)
    app.add_middleware(HeadMiddleware)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.timeout_s
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics, router=app.router)
    return app
