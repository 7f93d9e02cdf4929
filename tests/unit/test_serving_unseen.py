"""Requests the first serving tests did not send, each answered as the API promises.

Wrong JSON types for the options, bodies that are not JSON (or not labelled JSON), too-deep
nesting, auth before validation, HEAD and wrong methods, unknown routes, the OpenAPI error
list, and model names the client must escape. Tiny artifacts trained in the test, no mocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cotune.recipes.finetune import finetune
from cotune.serving import ServeSettings, create_app, load_models
from cotune.serving.backends import Backend

from .helpers import tiny_config

PREDICT = "/v1/models/{}/predict"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def models(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Backend]:
    ner = finetune(tiny_config(tiny_backbone, tmp_path_factory.mktemp("ner")), progress=False)
    cls = finetune(
        tiny_config(tiny_backbone, tmp_path_factory.mktemp("cls"), "cls"), progress=False
    )
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("multi"), "cls")
    cfg.model.multi_label = True
    multi = finetune(cfg, progress=False)
    return load_models([f"ner={ner}", f"cls={cls}", f"multi={multi}"], "torch")


def serve(models: dict[str, Backend], **settings: Any) -> TestClient:
    return TestClient(create_app(ServeSettings(**settings), models))


@pytest.fixture(scope="module")
def client(models: dict[str, Backend]) -> Iterator[TestClient]:
    with serve(models) as c:
        yield c


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()["error"]
    assert body["type"] and body["message"]
    return body


def still_serving(client: TestClient) -> None:
    response = client.post(PREDICT.format("ner"), json={"text": "john visited paris"})
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------------------- option types


@pytest.mark.parametrize(
    ("model", "option"),
    [
        ("cls", {"top_k": True}),  # was read as top_k=1
        ("cls", {"top_k": "2"}),  # was read as 2
        ("cls", {"top_k": 2.0}),
        ("multi", {"threshold": True}),  # was read as threshold=1.0: no label ever
        ("multi", {"threshold": "0.5"}),
    ],
)
def test_options_of_the_wrong_json_type_are_refused(
    client: TestClient, model: str, option: dict[str, Any]
) -> None:
    err = error_of(client.post(PREDICT.format(model), json={"text": "a", **option}), 422)
    assert err["type"] == "invalid_request" and next(iter(option)) in err["message"]
    still_serving(client)


def test_whole_numbers_are_still_thresholds(client: TestClient) -> None:
    for threshold in (0, 1):
        response = client.post(PREDICT.format("multi"), json={"text": "a", "threshold": threshold})
        assert response.status_code == 200, response.text
