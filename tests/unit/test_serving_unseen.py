"""Requests the first serving tests did not send, each answered as the API promises.

Wrong JSON types for the options, bodies that are not JSON (or not labelled JSON), too-deep
nesting, auth before validation, HEAD and wrong methods, unknown routes, the OpenAPI error
list, model names the client must escape, and a body that stops arriving. Tiny artifacts
trained in the test, no mocks.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from cotune.errors import CotuneError
from cotune.recipes.finetune import finetune
from cotune.serving import ServeSettings, create_app, load_models
from cotune.serving.backends import Backend
from cotune.serving.client import CotuneClient, ServerError

from .helpers import tiny_config
from .serving_helpers import JSON, PREDICT, error_of, serve, still_serving


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


@pytest.fixture(scope="module")
def client(models: dict[str, Backend]) -> Iterator[TestClient]:
    with serve(models) as c:
        yield c


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


# ---------------------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},  # curl -d without -H
        {},  # no Content-Type at all
    ],
)
def test_json_sent_without_the_json_content_type_gets_415_saying_so(
    client: TestClient, headers: dict[str, str]
) -> None:
    request = client.build_request("POST", PREDICT.format("ner"), content=b'{"text": "a"}')
    for key in list(request.headers):
        if key.lower() == "content-type":
            del request.headers[key]
    request.headers.update(headers)
    err = error_of(client.send(request), 415)
    assert err["type"] == "unsupported_media_type"
    assert "Content-Type: application/json" in err["message"]
    still_serving(client)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty"),
        (b"null", "empty"),
        (b'["john visited paris"]', "got a list"),
        (b'"john visited paris"', "got a string"),
        (b"42", "got a number"),
    ],
)
def test_a_body_that_is_not_an_object_says_what_to_send(
    client: TestClient, body: bytes, says: str
) -> None:
    err = error_of(client.post(PREDICT.format("ner"), content=body, headers=JSON), 422)
    assert err["type"] == "invalid_request"
    assert says in err["message"] and '{"text": "..."}' in err["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"text": "a", "top_k": ' + b"1" * 5000 + b"}", "digits"),
    ],
)
def test_json_that_python_cannot_parse_is_a_422_not_a_bare_400(
    client: TestClient, body: bytes, says: str
) -> None:
    err = error_of(client.post(PREDICT.format("ner"), content=body, headers=JSON), 422)
    assert err["type"] == "invalid_json" and says in err["message"]
    assert "set_int_max_str_digits" not in err["message"]  # a server knob, no fix for a client
    still_serving(client)


def test_validation_messages_drop_pydantics_prefix(client: TestClient) -> None:
    err = error_of(client.post(PREDICT.format("ner"), json={}), 422)
    assert err["message"].startswith('body: give exactly one of "text"'), err["message"]


# ---------------------------------------------------------------------------- auth first


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"{bad json", JSON),
        (b"[" * 100_000 + b"]" * 100_000, JSON),
        (b'{"text": "a"}', {"content-type": "text/plain"}),
        (b'{"txt": "a"}', JSON),
    ],
)
def test_without_a_key_every_bad_body_is_a_401(
    models: dict[str, Backend], monkeypatch: pytest.MonkeyPatch, body: bytes, headers: Any
) -> None:
    monkeypatch.setenv("UNSEEN_KEYS", "k1")
    with serve(models, api_keys_env="UNSEEN_KEYS") as c:
        url = PREDICT.format("ner")
        assert error_of(c.post(url, content=body, headers=headers), 401)["type"] == "unauthorized"
        wrong = c.post(url, content=body, headers={**headers, "Authorization": "Bearer nope"})
        assert error_of(wrong, 401)
        for key in ({"X-API-Key": "k1"}, {"Authorization": "bearer k1"}):
            assert c.post(url, content=body, headers={**headers, **key}).status_code in (415, 422)


# ---------------------------------------------------------------------------- methods, routes


def test_head_answers_like_get_without_a_body(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/v1/models", "/v1/models/ner"):
        head, get = client.head(path), client.get(path)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"]
    assert client.head(PREDICT.format("ner")).status_code == 405


def test_wrong_method_and_unknown_route_name_the_fix(client: TestClient) -> None:
    err = error_of(client.get(PREDICT.format("ner")), 405)
    assert "use POST" in err["message"] and "GET" in err["message"]
    err = error_of(client.post("/healthz"), 405)
    assert "use GET" in err["message"]
    err = error_of(client.post("/v1/models/a/b/predict", json={"text": "a"}), 404)
    assert err["type"] == "not_found" and "POST /v1/models/{name}/predict" in err["message"]


def test_openapi_lists_the_errors_each_route_answers(
    models: dict[str, Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNSEEN_KEYS", "k1")
    with serve(models, api_keys_env="UNSEEN_KEYS") as c:
        paths = c.get("/openapi.json").json()["paths"]
    predict = paths["/v1/models/{name}/predict"]["post"]["responses"]
    assert {"400", "401", "408", "415", "500"} <= set(predict)
    assert "401" in paths["/v1/models"]["get"]["responses"]
    assert "401" in paths["/metrics"]["get"]["responses"]
    model = paths["/v1/models/{name}"]["get"]["responses"]
    assert "413" not in model and "504" not in model  # no body, no batch: never answered
    for path, route in paths.items():  # one error shape, not FastAPI's {"detail": [...]}
        for op in route.values():
            if path == "/readyz":  # its 503 is the readiness body itself
                continue
            for status, response in op["responses"].items():
                if status >= "400":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, status


# ---------------------------------------------------------------------------- client


@pytest.mark.parametrize("name", ["ner?x=1", "ner#top", "../models/ner", "..", "cls/../ner"])
def test_client_asks_for_exactly_the_model_named(client: TestClient, name: str) -> None:
    """Unescaped, each of these names reached the model "ner" and got its answer."""
    c = CotuneClient(http=client)
    for call in (lambda: c.model(name), lambda: c.predict(name, "john visited paris")):
        with pytest.raises(ServerError) as caught:
            call()
        assert caught.value.status in (404, 405), caught.value
    assert c.model("ner").name == "ner"


def test_client_refuses_an_empty_model_name(client: TestClient) -> None:
    c = CotuneClient(http=client)
    with pytest.raises(CotuneError, match="model name is empty"):
        c.model("")  # was GET /v1/models/, redirected to the list, then a pydantic traceback
    with pytest.raises(CotuneError, match="model name is empty"):
        c.predict("", "a")


# ---------------------------------------------------------------------------- slow bodies


def test_a_body_that_stops_arriving_gets_408_instead_of_holding_the_connection(
    models: dict[str, Backend],
) -> None:
    """Through real uvicorn (TestClient reads the whole body before the app runs)."""
    app = create_app(ServeSettings(timeout_s=0.5), models)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            head = f"POST {PREDICT.format('ner')} HTTP/1.1\r\nHost: x\r\n"
            head += "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            sock.sendall(head.encode() + b'{"text": "jo')  # 12 of the 100 bytes, then silence
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(4096)  # without the deadline: socket.timeout after 10 s
                if not chunk:
                    break
                answer += chunk
        status, _, rest = answer.partition(b"\r\n")
        assert b" 408 " in status, answer
        body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
        assert body["error"]["type"] == "body_timeout" and body["error"]["limit"] == "timeout_s"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
