"""A small synchronous client for `cotune serve`, speaking the server's own pydantic schemas.

    from cotune.serving.client import CotuneClient

    with CotuneClient("http://127.0.0.1:8080", api_key="...") as client:
        print([m.name for m in client.models()])
        answer = client.predict("wnut16", ["Obama visited Paris"])
        for entity in answer.predictions[0].entities:
            print(entity.label, entity.start, entity.end)

The request is validated here before it is sent (the same `PredictRequest` the server uses), and
an error answer raises `ServerError` carrying the server's `ErrorDetail` (type, limit, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from cotune.errors import CotuneError
from cotune.serving.auth import HEADER
from cotune.serving.schemas import (
    ErrorDetail,
    ErrorResponse,
    ModelInfo,
    ModelsResponse,
    PredictRequest,
    PredictResponse,
)

__all__ = ["CotuneClient", "ServerError"]


class ServerError(CotuneError):
    """The server answered with an error; `status` and `detail` say which."""

    def __init__(self, status: int, detail: ErrorDetail) -> None:
        super().__init__(f"HTTP {status} {detail.type}: {detail.message}")
        self.status, self.detail = status, detail


def model_path(name: str) -> str:
    """/v1/models/NAME with NAME one escaped path segment: unescaped, "ner?x=1" asked for "ner"
    and "../models/ner" walked to another model, each answered as if it were the one named."""
    if not name:
        raise CotuneError("the model name is empty", fix="name a model: client.models() lists them")
    segment = quote(name, safe="")
    if segment in (".", ".."):  # a dot segment would be resolved away by the URL
        segment = segment.replace(".", "%2E")
    return f"/v1/models/{segment}"


class CotuneClient:
    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        """`http`: an existing httpx client (e.g. FastAPI's TestClient) to send through."""
        self._owned = http is None
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = {HEADER: api_key} if api_key else {}

    # ------------------------------------------------------------------ API

    def models(self) -> list[ModelInfo]:
        return ModelsResponse.model_validate(self._get("/v1/models")).models

    def model(self, name: str) -> ModelInfo:
        return ModelInfo.model_validate(self._get(model_path(name)))

    def predict(
        self,
        model: str,
        texts: str | Sequence[str],
        *,
        top_k: int | None = None,
        threshold: float | None = None,
    ) -> PredictResponse:
        """One text or several; `predictions` come back in the order of the texts."""
        if isinstance(texts, str):
            request = PredictRequest(text=texts, top_k=top_k, threshold=threshold)
        else:
            request = PredictRequest(texts=list(texts), top_k=top_k, threshold=threshold)
        body = request.model_dump(exclude_none=True)
        answer = self._http.post(f"{model_path(model)}/predict", json=body, headers=self._headers)
        return PredictResponse.model_validate(self._checked(answer))

    def healthy(self) -> bool:
        return self._status("/healthz") == 200

    def ready(self) -> bool:
        return self._status("/readyz") == 200

    def metrics(self) -> str:
        answer = self._http.get("/metrics", headers=self._headers)
        self._checked(answer, json_body=False)
        return answer.text

    # ------------------------------------------------------------------ plumbing

    def _get(self, path: str) -> Any:
        return self._checked(self._http.get(path, headers=self._headers))

    def _status(self, path: str) -> int:
        try:
            return self._http.get(path).status_code
        except httpx.TransportError:
            return 0

    @staticmethod
    def _checked(answer: httpx.Response, json_body: bool = True) -> Any:
        if answer.status_code >= 400:
            try:
                detail = ErrorResponse.model_validate(answer.json()).error
            except ValueError:  # not our JSON (a proxy's error page, say)
                detail = ErrorDetail(type=f"http_{answer.status_code}", message=answer.text[:200])
            raise ServerError(answer.status_code, detail)
        return answer.json() if json_body else None

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def __enter__(self) -> CotuneClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
