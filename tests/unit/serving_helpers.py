"""What the serving tests share: the app over given backends, and how an error must look."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cotune.serving import ServeSettings, create_app
from cotune.serving.backends import Backend

PREDICT = "/v1/models/{}/predict"
JSON = {"content-type": "application/json"}


def serve(models: dict[str, Backend], **settings: Any) -> TestClient:
    return TestClient(create_app(ServeSettings(**settings), models))


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The `error` object of a JSON error answer with `status`: a type and a message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()["error"]
    assert body["type"] and body["message"]
    return body


def still_serving(client: TestClient) -> None:
    """The service answers a good request after whatever the test sent it."""
    response = client.post(PREDICT.format("ner"), json={"text": "john visited paris with mary ."})
    assert response.status_code == 200, response.text
