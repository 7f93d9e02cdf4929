"""Explanations through the interfaces: `cotune explain` (text, --input file, --global) and
`explain: true` on the service's predict endpoint, with its size limits; and through every
adaptation method's artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cotune.artifact import load_artifact
from cotune.cli.main import app
from cotune.config.schema import MethodConfig
from cotune.explain import Explainer
from cotune.recipes.finetune import finetune
from cotune.serving import load_models
from cotune.serving.explain import EXPLAIN_MAX_CHARS, EXPLAIN_MAX_TEXTS

from .explain_helpers import cls_model, ner_model
from .helpers import flat, tiny_config
from .serving_helpers import PREDICT, error_of, serve

runner = CliRunner()
__all__ = ["cls_model", "ner_model"]  # fixtures, imported for pytest
TEXT = "john visited paris with apple today ."


def test_cli_text_prints_json_and_writes_html_and_png(cls_model: Path, tmp_path: Path) -> None:
    text = 'mary <script>alert("x")</script> loves the film'
    html, png = tmp_path / "e.html", tmp_path / "e.png"
    res = runner.invoke(
        app, ["explain", str(cls_model), text, "--html", str(html), "--png", str(png)]
    )
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)
    assert record["text"] == text
    [target] = record["explanations"]
    assert target["label"] == record["prediction"]["label"]
    assert abs(target["convergence_delta"]) < 1e-3
    page = html.read_text(encoding="utf-8")
    assert "<script" not in page  # the text is escaped, word by word
    assert ">&lt;</span>" in page and ">script</span>" in page
    assert 'title="' in page and "background:rgba(" in page
    assert "http://" not in page and "https://" not in page  # self-contained
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_input_file_gives_one_line_per_text(ner_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "tweets.jsonl"
    src.write_text(json.dumps({"text": TEXT}) + "\n" + json.dumps({"text": "北京 mary"}) + "\n")
    out = tmp_path / "out.jsonl"
    args = ["explain", str(ner_model), "--input", str(src), "-o", str(out), "--no-files"]
    res = runner.invoke(app, [*args, "--method", "occlusion", "--faithfulness"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == [TEXT, "北京 mary"]
    assert not (tmp_path / "explain.html").exists()
    for row in rows:
        for t in row["explanations"]:
            assert t["method"] == "occlusion" and "faithfulness" in t
            assert row["text"][t["entity"]["start"] : t["entity"]["end"]] == t["entity"]["text"]


def test_cli_global_report(cls_model: Path, tmp_path: Path) -> None:
    html, png, out = tmp_path / "g.html", tmp_path / "g.png", tmp_path / "g.json"
    res = runner.invoke(
        app,
        [
            "explain",
            str(cls_model),
            "--global",
            "--split",
            "test",
            "--method",
            "grad-x-input",
            "--min-count",
            "1",
            "--errors",
            "2",
            "-o",
            str(out),
            "--html",
            str(html),
            "--png",
            str(png),
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text(encoding="utf-8"))
    predictor = load_artifact(cls_model)
    assert set(report["label_words"]) <= set(predictor.meta.labels)
    assert report["examples"] > 0 and len(report["high_confidence_errors"]) <= 2
    confidences = [e["confidence"] for e in report["high_confidence_errors"]]
    assert confidences == sorted(confidences, reverse=True)
    for err in report["high_confidence_errors"]:
        assert err["predicted"] != err["gold"]
        assert [t["label"] for t in err["explanations"]] == [*err["predicted"], *err["gold"]]
    assert "Most confident errors" in html.read_text(encoding="utf-8")
    assert png.stat().st_size > 0


def test_cli_global_ner_separates_entity_and_context_words(ner_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    res = runner.invoke(
        app,
        [
            "explain",
            str(ner_model),
            "--global",
            "--method",
            "grad-x-input",
            "--min-count",
            "1",
            "-o",
            str(out),
            "--no-files",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert "entity_words" in report and "context_words" in report
    for err in report["high_confidence_errors"]:
        assert err["kind"] in ("wrong type", "wrong span", "spurious")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "angry", TEXT], "no label 'angry'"),
        ([""], "text 0 is empty"),
        ([], "give one of: a text, --input FILE, or --global"),
        (["--data", "wnut16", TEXT], "--data is read only with --global"),
        (["--global", "--split", "val"], "unknown split 'val'"),
        (["--method", "lime", TEXT], "unknown attribution method 'lime'"),
    ],
)
def test_cli_bad_input_is_named(cls_model: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["explain", str(cls_model), *args, "--no-files"])
    assert res.exit_code == 2
    assert message in flat(res.output)


def test_cli_refuses_onnx_and_headless_folders(
    cls_model: Path, tiny_backbone: Path, tmp_path: Path
) -> None:
    onnx_dir = tmp_path / "onnx"
    onnx_dir.mkdir()
    (onnx_dir / "model.onnx").write_bytes(b"\x08\x07")
    res = runner.invoke(app, ["explain", str(onnx_dir), TEXT])
    assert res.exit_code == 2 and "computes no gradients" in flat(res.output)
    res = runner.invoke(app, ["explain", str(tiny_backbone), TEXT])
    assert res.exit_code == 2 and "without a task head" in flat(res.output)


def test_help_has_an_example() -> None:
    res = runner.invoke(app, ["explain", "--help"])
    assert res.exit_code == 0 and "cotune explain runs/" in res.output


# ---------------------------------------------------------------------------- service


def test_service_explains_on_request_and_bounds_the_cost(ner_model: Path, cls_model: Path) -> None:
    models = load_models([f"ner={ner_model}", f"cls={cls_model}"])
    with serve(models) as client:
        plain = client.post(PREDICT.format("cls"), json={"text": TEXT}).json()
        assert plain.get("explanations") is None
        res = client.post(PREDICT.format("cls"), json={"texts": [TEXT, "mary"], "explain": True})
        assert res.status_code == 200, res.text
        body = res.json()
        assert len(body["explanations"]) == 2
        for pred, ex in zip(body["predictions"], body["explanations"], strict=True):
            assert [t["label"] for t in ex["explanations"]] == pred["labels"]
            assert ex["explanations"][0]["probability"] == pytest.approx(
                pred["scores"][pred["label"]], abs=1e-5
            )
        res = client.post(PREDICT.format("ner"), json={"text": TEXT, "explain": True})
        assert res.status_code == 200, res.text
        body = res.json()
        ents = body["predictions"][0]["entities"]
        assert [t["entity"]["text"] for t in body["explanations"][0]["explanations"]] == [
            e["text"] for e in ents
        ]
        err = error_of(
            client.post(
                PREDICT.format("cls"),
                json={"texts": [TEXT] * (EXPLAIN_MAX_TEXTS + 1), "explain": True},
            ),
            413,
        )
        assert err["limit"] == "explain_max_texts" and err["max"] == EXPLAIN_MAX_TEXTS
        err = error_of(
            client.post(
                PREDICT.format("cls"), json={"text": "a " * EXPLAIN_MAX_CHARS, "explain": True}
            ),
            413,
        )
        assert err["limit"] == "explain_max_chars"
        error_of(client.post(PREDICT.format("cls"), json={"text": TEXT, "explain": "yes"}), 422)
        # the served model itself never got Captum's hooks, and still answers
        embeddings = models["cls"].predictor.model.get_input_embeddings()  # type: ignore[attr-defined]
        assert not embeddings._forward_hooks
        assert client.post(PREDICT.format("cls"), json={"text": TEXT}).json() == plain


# ---------------------------------------------------------------------------- every artifact kind

KINDS: dict[str, dict[str, Any]] = {
    "freeze": {"name": "freeze", "bottom_layers": 1},
    "lora": {"name": "lora", "r": 4},
    "adalora": {"name": "adalora", "init_r": 4, "target_r": 2},
    "ia3": {"name": "ia3"},
    "prefix": {"name": "prefix", "num_virtual_tokens": 4},
    "adapter": {"name": "adapter", "size": 8},
}


@pytest.fixture(scope="module")
def kinds(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("kinds")
    folders = {}
    for kind, method in KINDS.items():
        cfg = tiny_config(tiny_backbone, out, "cls", max_steps=2, lr=1e-2)
        cfg = cfg.model_copy(update={"method": MethodConfig(**method), "name": f"cls-{kind}"})
        folders[kind] = finetune(cfg, progress=False)
    merged = out / "cls-lora-merged"
    res = runner.invoke(app, ["merge", str(folders["lora"]), "-o", str(merged)])
    assert res.exit_code == 0, res.output
    folders["merged"] = merged
    dp = tiny_config(tiny_backbone, out, "cls", max_steps=2)
    dp = dp.model_copy(update={"name": "cls-dp"})
    raw = dp.model_dump()
    raw["privacy"] = {"dp": {"noise_multiplier": 1.0, "max_grad_norm": 1.0}}
    raw["method"] = {"name": "lora", "r": 4}
    folders["dp-lora"] = finetune(type(dp)(**raw), progress=False)
    return folders


@pytest.mark.parametrize("kind", [*KINDS, "merged", "dp-lora"])
def test_every_artifact_kind_is_explained_completely(kinds: dict[str, Path], kind: str) -> None:
    predictor = load_artifact(kinds[kind])
    explainer = Explainer(predictor, "ig")
    [layout] = explainer.layouts([TEXT])
    windows, target = layout.targets[0]
    result = explainer.attribute(layout, windows, target)
    [pred] = predictor.predict_text([TEXT])
    assert explainer.probability(layout, windows, target) == pytest.approx(
        pred.probs[target.label], abs=1e-5
    )
    gap = (result.logit or 0) - (result.baseline_logit or 0)
    total = sum(s or 0 for s in result.scores)
    assert total - gap == pytest.approx(result.delta, abs=1e-5)
    assert abs(result.delta or 0) <= 0.05 * abs(gap) + 1e-5
    assert any(s for s in result.scores)
    for method in ("attention", "grad-x-input"):
        assert Explainer(predictor, method).explain([TEXT])[0].targets
