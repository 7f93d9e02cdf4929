"""The HTTP service through FastAPI's TestClient, on tiny artifacts trained in the test.

Every endpoint; API keys on and off; each limit answered with 413 naming it; malformed, empty,
huge and non-UTF-8 input; micro-batching that really batches; the ONNX backend against PyTorch.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cotune.artifact import load_artifact
from cotune.cli.main import app as cli
from cotune.errors import ArtifactError, ConfigError
from cotune.recipes.finetune import finetune
from cotune.serving import PredictorBackend, ServeSettings, create_app, load_models
from cotune.serving.backends import Backend
from cotune.serving.batcher import InferenceFailed, MicroBatcher
from cotune.serving.client import CotuneClient, ServerError
from cotune.uses.predict import as_dict
from tests.unit.helpers import flat

from .helpers import tiny_config
from .serving_helpers import JSON, PREDICT, error_of, serve, still_serving

TEXTS = ["john visited paris with mary .", "obama and apple went to new york today !"]


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ner_dir(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("ner"), epochs=20, lr=5e-3)
    return finetune(cfg, progress=False)


@pytest.fixture(scope="module")
def cls_dir(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("cls"), "cls", epochs=5)
    return finetune(cfg, progress=False)


@pytest.fixture(scope="module")
def multi_dir(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("multi"), "cls", epochs=2)
    cfg.model.multi_label = True
    return finetune(cfg, progress=False)


@pytest.fixture(scope="module")
def models(ner_dir: Path, cls_dir: Path, multi_dir: Path) -> dict[str, Backend]:
    return load_models([f"ner={ner_dir}", f"cls={cls_dir}", f"multi={multi_dir}"], "torch")


@pytest.fixture(scope="module")
def client(models: dict[str, Backend]) -> Iterator[TestClient]:
    with serve(models) as c:
        yield c


# ---------------------------------------------------------------------------- endpoints


def test_health_ready_models_and_openapi(client: TestClient, ner_dir: Path) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models"] == ["ner", "cls", "multi"]
    infos = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    ner = infos["ner"]
    meta = json.loads((ner_dir / "cotune.json").read_text())
    assert ner["task"] == "token-classification" and ner["labels"] == meta["labels"]
    assert ner["base"]["fingerprint"] == meta["backbone"]["fingerprint"]
    assert ner["metrics"]["f1"] == json.loads((ner_dir / "metrics.json").read_text())["test"]["f1"]
    assert ner["backend"] == "torch" and infos["multi"]["multi_label"] is True
    assert client.get("/v1/models/cls").json() == infos["cls"]
    assert error_of(client.get("/v1/models/nope"), 404)["type"] == "unknown_model"
    assert error_of(client.post(PREDICT.format("nope"), json={"text": "a"}), 404)
    spec = client.get("/openapi.json").json()
    assert {"/v1/models", "/v1/models/{name}/predict", "/healthz", "/readyz", "/metrics"} <= set(
        spec["paths"]
    )
    assert "PredictRequest" in spec["components"]["schemas"]


def test_ner_predictions_equal_the_artifact_and_slice_the_text(
    client: TestClient, ner_dir: Path
) -> None:
    want = [
        as_dict(t, p)["entities"]
        for t, p in zip(TEXTS, load_artifact(ner_dir).predict_text(TEXTS), strict=True)
    ]
    one = client.post(PREDICT.format("ner"), json={"text": TEXTS[0]}).json()
    assert one["model"] == "ner" and one["predictions"] == [{"entities": want[0]}]
    many = client.post(PREDICT.format("ner"), json={"texts": TEXTS}).json()["predictions"]
    assert [p["entities"] for p in many] == want
    assert any(want), "the tiny model should find an entity"
    for text, pred in zip(TEXTS, many, strict=True):
        for e in pred["entities"]:
            assert text[e["start"] : e["end"]] == e["text"] and 0 < e["score"] <= 1


def test_classification_probabilities_and_top_k(client: TestClient) -> None:
    texts = ["a great film", "awful bad movie"]
    full = client.post(PREDICT.format("cls"), json={"texts": texts}).json()["predictions"]
    for p in full:
        scores = list(p["scores"].values())
        assert sum(scores) == pytest.approx(1, abs=1e-4) and scores == sorted(scores, reverse=True)
        assert p["label"] == next(iter(p["scores"])) and p["labels"] == [p["label"]]
    top = client.post(PREDICT.format("cls"), json={"texts": texts, "top_k": 1}).json()
    assert [list(p["scores"]) for p in top["predictions"]] == [[p["label"]] for p in full]
    # top_k belongs to classifiers and threshold to multi-label ones
    assert error_of(client.post(PREDICT.format("ner"), json={"text": "a", "top_k": 1}), 422)
    assert error_of(client.post(PREDICT.format("cls"), json={"text": "a", "threshold": 0.5}), 422)


def test_multi_label_threshold(client: TestClient) -> None:
    url = PREDICT.format("multi")
    default = client.post(url, json={"text": "a great film"}).json()["predictions"][0]
    assert default["labels"] == [k for k, v in default["scores"].items() if v >= 0.5]
    everything = client.post(url, json={"text": "a great film", "threshold": 0.0}).json()
    assert sorted(everything["predictions"][0]["labels"]) == ["neg", "pos"]
    assert everything["predictions"][0]["label"] is None  # several labels: no single one
    nothing = client.post(url, json={"text": "a great film", "threshold": 1.0}).json()
    assert nothing["predictions"][0]["labels"] == []


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    client.post(PREDICT.format("ner"), json={"text": TEXTS[0]})
    client.post(PREDICT.format("ner"), json={"texts": ["a"] * 1000})
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)+\})? -?[0-9.e+Inf-]+$')
    lines = response.text.splitlines()
    for line in lines:
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    text = response.text
    ok = 'cotune_requests_total{route="/v1/models/{name}/predict",method="POST",status="200"}'
    assert ok in text
    assert 'cotune_request_errors_total{route="/v1/models/{name}/predict",status="413"}' in text
    assert (
        'cotune_request_duration_seconds_bucket{route="/v1/models/{name}/predict",le="+Inf"}'
        in text
    )
    assert 'cotune_batch_size_count{model="ner"}' in text and "cotune_queue_depth" in text


# ---------------------------------------------------------------------------- auth


def test_auth_off_needs_no_key(client: TestClient) -> None:
    assert client.get("/v1/models").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_api_keys_from_env_and_file(
    models: dict[str, Backend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVE_KEYS", "alpha, beta")
    key_file = tmp_path / "keys.txt"
    key_file.write_text("# team gamma\ngamma\n\n")
    with serve(models, api_keys_env="SERVE_KEYS", api_keys_file=key_file) as c:
        url = PREDICT.format("ner")
        assert error_of(c.post(url, json={"text": "a"}), 401)["type"] == "unauthorized"
        assert error_of(c.post(url, json={"text": "a"}, headers={"X-API-Key": "alph"}), 401)
        assert error_of(c.get("/v1/models", headers={"X-API-Key": "# team gamma"}), 401)
        assert error_of(c.get("/metrics"), 401)
        for headers in (
            {"X-API-Key": "alpha"},
            {"X-API-Key": "beta"},
            {"Authorization": "Bearer gamma"},
        ):
            assert c.post(url, json={"text": "a"}, headers=headers).status_code == 200
            assert c.get("/v1/models", headers=headers).status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
        assert CotuneClient(api_key="beta", http=c).models()
        with pytest.raises(ServerError) as caught:
            CotuneClient(api_key="wrong", http=c).predict("ner", "a")
        assert caught.value.status == 401
        security = c.get("/openapi.json").json()["components"]["securitySchemes"]
        assert "APIKeyHeader" in security


def test_configured_keys_that_are_missing_refuse_to_start(
    models: dict[str, Backend], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NO_SUCH_KEYS", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_KEYS"):
        create_app(ServeSettings(api_keys_env="NO_SUCH_KEYS"), models)
    with pytest.raises(ConfigError, match="cannot read"):
        create_app(ServeSettings(api_keys_file=tmp_path / "absent.txt"), models)


# ---------------------------------------------------------------------------- limits


def test_too_many_texts(models: dict[str, Backend]) -> None:
    with serve(models, max_texts=3) as c:
        err = error_of(c.post(PREDICT.format("ner"), json={"texts": ["a"] * 4}), 413)
        assert err["limit"] == "max_texts" and err["max"] == 3 and err["value"] == 4
        with pytest.raises(ServerError) as caught:
            CotuneClient(http=c).predict("ner", ["a"] * 4)
        assert caught.value.detail.limit == "max_texts"
        assert c.post(PREDICT.format("ner"), json={"texts": ["a"] * 3}).status_code == 200


def test_too_long_text(models: dict[str, Backend]) -> None:
    with serve(models, max_chars=50) as c:
        err = error_of(c.post(PREDICT.format("cls"), json={"texts": ["ok", "x" * 51]}), 413)
        assert err["limit"] == "max_chars" and err["value"] == 51 and "text 1" in err["message"]
        assert c.post(PREDICT.format("cls"), json={"text": "x" * 50}).status_code == 200


def test_too_big_body_declared_or_streamed(models: dict[str, Backend]) -> None:
    with serve(models, max_body_bytes=1000) as c:
        big = json.dumps({"text": "a " * 600}).encode()
        err = error_of(c.post(PREDICT.format("ner"), content=big, headers=JSON), 413)
        assert err["limit"] == "max_body_bytes" and err["max"] == 1000

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
            yield b'{"text": "'
            for _ in range(100):
                yield b"a " * 20
            yield b'"}'

        err = error_of(c.post(PREDICT.format("ner"), content=chunks(), headers=JSON), 413)
        assert err["limit"] == "max_body_bytes"
        assert error_of(
            c.post(PREDICT.format("ner"), content=b"{}", headers={**JSON, "content-length": "x"}),
            400,
        )
        still_serving(c)


def test_timeout(models: dict[str, Backend]) -> None:
    class Slow:
        def __init__(self, inner: Backend) -> None:
            self.inner, self.info = inner, inner.info

        def predict_texts(self, texts: Sequence[str]) -> list[dict[str, Any]]:
            time.sleep(0.6)
            return self.inner.predict_texts(texts)

    with serve({"ner": Slow(models["ner"])}, timeout_s=0.2) as c:
        err = error_of(c.post(PREDICT.format("ner"), json={"text": "a"}), 504)
        assert err["type"] == "timeout" and err["limit"] == "timeout_s"


def test_full_queue_answers_503(models: dict[str, Backend]) -> None:
    with serve(models, max_queue=2) as c:
        response = c.post(PREDICT.format("ner"), json={"texts": ["a", "b", "c"]})
        assert error_of(response, 503)["type"] == "overloaded"
        assert response.headers["retry-after"] == "1"
        assert c.post(PREDICT.format("ner"), json={"texts": ["a", "b"]}).status_code == 200


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"{bad json", "invalid_json"),
        (b'{"text": "unterminated', "invalid_json"),
        (b"", "invalid_request"),
        (b"[]", "invalid_request"),
        (b"null", "invalid_request"),
        (b'{"text": 5}', "invalid_request"),
        (b'{"texts": ["a", null]}', "invalid_request"),
        (b'{"texts": []}', "invalid_request"),
        (b'{"text": "a", "texts": ["b"]}', "invalid_request"),
        (b'{"text": "a", "unknown": 1}', "invalid_request"),
        (b'{"text": "a", "top_k": 0}', "invalid_request"),
        (b'{"text": "\\ud800 lone surrogate"}', "invalid_request"),
        (json.dumps({"text": "a" * 10, "nested": [[[[[[[[]]]]]]]]}).encode(), "invalid_request"),
    ],
)
def test_malformed_requests_get_422_and_the_service_lives(
    client: TestClient, body: bytes, kind: str
) -> None:
    err = error_of(client.post(PREDICT.format("ner"), content=body, headers=JSON), 422)
    assert err["type"] == kind
    still_serving(client)


def test_non_utf8_body(client: TestClient) -> None:
    for body in (b'{"text": "caf\xe9"}', b"\xff\xfe{\x00}\x00", b'{"text": "\xed\xa0\x80"}'):
        err = error_of(client.post(PREDICT.format("ner"), content=body, headers=JSON), 400)
        assert err["type"] == "invalid_encoding"
    still_serving(client)


def test_unknown_route_and_method(client: TestClient) -> None:
    assert error_of(client.get("/nope"), 404)["type"] == "not_found"
    assert error_of(client.delete("/v1/models"), 405)["type"] == "method_not_allowed"


def test_empty_and_blank_texts(client: TestClient) -> None:
    ner = client.post(PREDICT.format("ner"), json={"texts": ["", "   ", "\n\t"]}).json()
    assert ner["predictions"] == [{"entities": []}] * 3
    cls = client.post(PREDICT.format("cls"), json={"text": ""}).json()["predictions"][0]
    assert cls["label"] in ("pos", "neg")


def test_100k_characters(models: dict[str, Backend], client: TestClient, ner_dir: Path) -> None:
    text = ("john visited paris with mary . " * 3300)[:100_000]
    err = error_of(client.post(PREDICT.format("ner"), json={"text": text}), 413)
    assert err["limit"] == "max_chars" and err["value"] == 100_000
    with serve(models, max_chars=100_000, max_body_bytes=200_000) as c:
        response = c.post(PREDICT.format("ner"), json={"text": text})
    assert response.status_code == 200, response.text
    entities = response.json()["predictions"][0]["entities"]
    # windows over a sentence far longer than max_length: still one answer with valid offsets
    assert len(entities) > 1000
    for e in entities:
        assert text[e["start"] : e["end"]] == e["text"]
    assert [e["start"] for e in entities] == sorted(e["start"] for e in entities)
    direct = load_artifact(ner_dir).predict_text([text])[0]
    assert [(e["label"], e["start"], e["end"]) for e in entities] == [
        (e.label, e.start, e.end) for e in direct
    ]


# ---------------------------------------------------------------------------- batching


def test_concurrent_requests_share_batches(models: dict[str, Backend]) -> None:
    texts = [f"john visited paris {i} times with mary ." for i in range(12)]
    want = models["ner"].predict_texts(texts)
    app = create_app(ServeSettings(max_batch=16, max_wait_ms=400), models)
    with TestClient(app) as c, ThreadPoolExecutor(12) as pool:
        answers = list(
            pool.map(lambda t: c.post(PREDICT.format("ner"), json={"text": t}).json(), texts)
        )
    # each request got the prediction of its own text, not a neighbour's
    assert [a["predictions"][0] for a in answers] == want
    total, batches = app.state.metrics.batch_size.total("ner")
    assert total == 12 and batches < 12
    assert app.state.metrics.batch_size.counts("ner")[1] < batches  # some batch held > 1 text


def test_a_lone_request_waits_at_most_max_wait(models: dict[str, Backend]) -> None:
    app = create_app(ServeSettings(max_batch=32, max_wait_ms=300), models)
    with TestClient(app) as c:
        still_serving(c)  # warm up
        start = time.perf_counter()
        models["ner"].predict_texts([TEXTS[1]])
        inference = time.perf_counter() - start
        start = time.perf_counter()
        response = c.post(PREDICT.format("ner"), json={"text": TEXTS[1]})
        elapsed = time.perf_counter() - start
    assert response.status_code == 200
    # it waited for company (up to 0.3 s), then ran alone, without waiting any longer
    assert 0.27 <= elapsed <= 0.3 + inference + 0.25, (elapsed, inference)
    assert app.state.metrics.batch_size.counts("ner")[1] == 2  # both ran as batches of one


def test_a_failing_text_fails_only_its_own_request() -> None:
    def predict(texts: list[str]) -> list[dict[str, Any]]:
        if "boom" in texts:
            raise ValueError("the model chokes on boom")
        return [{"n": len(t)} for t in texts]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher("m", predict, max_batch=8, max_wait_ms=100)
        await batcher.start()
        results = await asyncio.gather(
            batcher.submit(["a"]),
            batcher.submit(["boom"]),
            batcher.submit(["ccc", "dd"]),
            return_exceptions=True,
        )
        await batcher.stop()
        return list(results)

    ok, failed, ok2 = asyncio.run(scenario())
    assert ok == [{"n": 1}] and ok2 == [{"n": 3}, {"n": 2}]
    assert isinstance(failed, InferenceFailed)


def test_stop_finishes_queued_texts_and_refuses_new_ones() -> None:
    async def scenario() -> tuple[Any, ...]:
        batcher = MicroBatcher("m", lambda ts: [{"t": t} for t in ts], max_wait_ms=10_000)
        await batcher.start()
        pending = asyncio.ensure_future(batcher.submit(["queued"]))
        await asyncio.sleep(0.05)
        await batcher.stop()  # does not wait the 10 s: stopping flushes the queue now
        late = await asyncio.gather(batcher.submit(["late"]), return_exceptions=True)
        return await pending, late[0]

    start = time.perf_counter()
    done, late = asyncio.run(scenario())
    assert done == [{"t": "queued"}] and type(late).__name__ == "Stopped"
    assert time.perf_counter() - start < 5


# ---------------------------------------------------------------------------- backends


def test_onnx_backends_reuse_cotune_decoding(ner_dir: Path, tmp_path: Path) -> None:
    from cotune.export.pipeline import export_artifact
    from cotune.export.runtime import onnx_file

    folder = tmp_path / "ner"
    shutil.copytree(ner_dir, folder)
    with pytest.raises(ArtifactError, match="cotune export"):
        load_models([str(folder)], "onnx")
    fp32, int8 = export_artifact(folder, quantize="int8", force=True).files
    assert fp32 == onnx_file(folder, int8=False) and int8 == onnx_file(folder, int8=True)
    torch_ = load_models([str(folder)], "torch")["ner"]
    onnx_ = load_models([str(folder)], "onnx")["ner"]
    quant = load_models([str(folder)], "onnx-int8")["ner"]
    assert onnx_.info.backend == "onnx" and quant.info.backend == "onnx-int8"
    long = "john visited paris with mary . " * 20  # windowed: longer than max_length
    texts = [*TEXTS, long, ""]
    want, got = torch_.predict_texts(texts), onnx_.predict_texts(texts)
    for w, g in zip(want, got, strict=True):
        assert [(e["label"], e["start"], e["end"]) for e in g["entities"]] == [
            (e["label"], e["start"], e["end"]) for e in w["entities"]
        ]
        for a, b in zip(w["entities"], g["entities"], strict=True):
            assert a["score"] == pytest.approx(b["score"], abs=1e-4)
    for text, pred in zip(texts, quant.predict_texts(texts), strict=True):
        assert all(text[e["start"] : e["end"]] == e["text"] for e in pred["entities"])
    with serve({"ner": quant}) as c:
        assert c.get("/v1/models").json()["models"][0]["backend"] == "onnx-int8"
        assert c.post(PREDICT.format("ner"), json={"texts": texts}).status_code == 200


def test_model_names(ner_dir: Path) -> None:
    models = load_models([str(ner_dir), f"again={ner_dir}"])
    assert list(models) == [ner_dir.name, "again"]
    first, second = models[ner_dir.name], models["again"]
    assert isinstance(first, PredictorBackend) and isinstance(second, PredictorBackend)
    assert first.predictor is second.predictor  # one folder is loaded once
    with pytest.raises(ConfigError, match="two models"):
        load_models([f"a={ner_dir}", f"a={ner_dir}"])
    with pytest.raises(ConfigError, match="URL"):
        load_models([f"a/b={ner_dir}"])
    with pytest.raises(ArtifactError):
        load_models([f"a={ner_dir}/missing"])


def test_pickled_weights_are_refused(ner_dir: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(ner_dir, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ArtifactError, match="pytorch_model.bin"):
        load_models([str(folder)])


def test_adapters_over_one_base_share_its_weights(
    tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from cotune.config.schema import MethodConfig

    folders = {}
    for task in ("ner", "cls"):
        cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp(task), task, max_steps=6, lr=1e-2)
        cfg = cfg.model_copy(update={"method": MethodConfig(name="lora", r=4), "name": task})
        folders[task] = finetune(cfg, progress=False)
    served = load_models([f"{t}={f}" for t, f in folders.items()])
    weights = {
        name: dict(b.predictor.model.named_parameters())  # type: ignore[attr-defined]
        for name, b in served.items()
    }

    def base_weight(name: str, suffix: str) -> Any:
        return next(p for n, p in weights[name].items() if n.endswith(suffix))

    for suffix in ("word_embeddings.weight", "layer.1.output.dense.weight"):
        assert base_weight("ner", suffix) is base_weight("cls", suffix)
    for name, folder in folders.items():  # sharing changes no prediction
        alone = load_models([f"{name}={folder}"])[name]
        assert served[name].predict_texts(TEXTS) == alone.predict_texts(TEXTS)


def test_client_round_trip(client: TestClient) -> None:
    c = CotuneClient(http=client)
    assert c.healthy() and c.ready()
    assert {m.name for m in c.models()} == {"ner", "cls", "multi"}
    answer = c.predict("ner", TEXTS)
    assert answer.task == "token-classification" and len(answer.predictions) == 2
    cls = c.predict("cls", "a great film", top_k=1).predictions[0]
    assert len(cls.scores) == 1  # type: ignore[union-attr]
    assert "cotune_requests_total" in c.metrics()


def test_cli_rejects_bad_settings() -> None:
    runner = CliRunner()
    assert "--max-wait-ms" in runner.invoke(cli, ["serve", "--help"]).output
    res = runner.invoke(cli, ["serve", "x", "--max-batch", "0"])
    assert res.exit_code == 2 and "--max-batch" in flat(res.output)


def test_offline_predict_takes_input_option(ner_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    rows = tmp_path / "in.jsonl"
    rows.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    out = tmp_path / "out.jsonl"
    res = runner.invoke(cli, ["predict", str(ner_dir), "--input", str(rows), "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["id"] for g in got] == [0, 1] and [g["entities"] for g in got] == [
        p["entities"] for p in load_models([str(ner_dir)])[ner_dir.name].predict_texts(TEXTS)
    ]
    both = runner.invoke(cli, ["predict", str(ner_dir), "text", "--input", str(rows)])
    assert both.exit_code == 2 and "one input" in flat(both.output)
    missing = runner.invoke(cli, ["predict", str(ner_dir), "--input", str(tmp_path / "no.jsonl")])
    assert missing.exit_code == 2 and "not a file" in flat(missing.output)
