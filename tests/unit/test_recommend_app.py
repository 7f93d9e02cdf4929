"""The recommender end to end on a tiny random BERT: train, load, recommend, serve, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cotune.apps.recommend.config import RecommendConfig, load_recommend_config
from cotune.apps.recommend.model import HistoryItem, Recommender
from cotune.apps.recommend.recipe import train_recommender
from cotune.errors import ConfigError, DataError

GENRES = {"a": ["paris", "london", "berlin"], "b": ["apple", "google", "amazon"]}


def write_data(folder: Path) -> tuple[Path, Path]:
    """24 items in two genres; each of 16 users mostly chooses one genre, in time order."""
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for k in range(24):
        genre = "a" if k % 2 else "b"
        words = GENRES[genre]
        items.append(
            {
                "item": str(k),
                "text": f"{words[k % 3]} film {k % 7}",
                "tags": [genre],
                "year": 1990 + k % 5,
            }
        )
    rows = []
    for u in range(16):
        parity = u % 2
        chosen = [k for k in range(24) if k % 2 == parity][u % 4 :][:7]
        rows += [{"user": f"u{u}", "item": k, "ts": 1000 + 10 * j} for j, k in enumerate(chosen)]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    (folder / "inter.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder / "inter.jsonl", folder / "items.jsonl"


def tiny_config(backbone: Path, folder: Path, **method: object) -> RecommendConfig:
    inter, items = write_data(folder / "data")
    return RecommendConfig(
        name="rec",
        output_dir=folder / "runs",
        data={"interactions": inter, "items": items, "split": "cold", "cold_fraction": 0.25},
        model={"backbone": str(backbone), "max_length": 32, "history_len": 3},
        method={"name": "full", **method},
        train={"batch_size": 4, "pairs_per_user": 2, "max_steps": 3, "lr": 1e-3},
        rank={"candidates": 8},
    )


@pytest.fixture(scope="module")
def trained(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("rec"))
    return train_recommender(cfg, progress=False)


def test_training_writes_a_complete_folder_with_metrics(trained: Path) -> None:
    meta = json.loads((trained / "recommender.json").read_text())
    metrics = json.loads((trained / "metrics.json").read_text())
    assert meta["kind"] == "recommender" and len(meta["reranker"]["coef"]) == 7
    for model in ("two-tower", "hybrid"):
        for split in ("test", "cold_test"):
            m = metrics[model][split]
            assert m["cases"] > 0 and 0 <= m["ndcg@10"] <= m["recall@10"] <= 1
    rows = (trained.parent.parent / "data" / "inter.jsonl").read_text().splitlines()
    interacted = {json.loads(r)["item"] for r in rows}
    assert metrics["training"]["steps"] == 3
    assert metrics["split"]["cold_items"] == round(0.25 * len(interacted))
    assert not list(trained.parent.glob(".rec.*"))  # no staging folder left behind


def test_a_finished_folder_is_not_overwritten(trained: Path, tiny_backbone: Path) -> None:
    cfg = tiny_config(tiny_backbone, trained.parent.parent)
    before = (trained / "metrics.json").read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        train_recommender(cfg, progress=False)
    assert (trained / "metrics.json").read_bytes() == before


def test_recommendations_are_unseen_scored_and_explained(trained: Path) -> None:
    model = Recommender.load(trained)
    history = model.histories["u0"]
    answer = model.recommend(user="u0", k=5)
    assert answer["fallback"] is None and len(answer["items"]) == 5
    ids = [r["item"] for r in answer["items"]]
    assert len(set(ids)) == 5 and not set(ids) & set(history)
    scores = [r["score"] for r in answer["items"]]
    assert scores == sorted(scores, reverse=True)
    for row in answer["items"]:
        assert 1 <= len(row["because"]) <= 3
        assert {b["item"] for b in row["because"]} <= set(history)
    # the same history given explicitly answers the same items
    again = model.recommend(history=history, k=5)
    assert [r["item"] for r in again["items"]] == ids


def test_fallbacks_and_bad_histories(trained: Path) -> None:
    model = Recommender.load(trained)
    unknown = model.recommend(user="nobody", k=3)
    assert unknown["fallback"] == "popularity" and "unknown user" in unknown["reason"]
    pops = [r["score"] for r in unknown["items"]]
    assert len(pops) == 3 and pops == sorted(pops, reverse=True)
    assert model.recommend(history=[], k=3)["fallback"] == "popularity"
    with pytest.raises(DataError, match="not in the catalog"):
        model.recommend(history=["no-such-item"])
    # a new item is accepted with its text, and can explain a recommendation
    new = model.recommend(history=[HistoryItem("new-1", "paris film 3")], k=2)
    assert new["fallback"] is None and new["items"][0]["because"][0]["item"] == "new-1"


def test_served_beside_the_models(trained: Path) -> None:
    from cotune.apps.recommend.serve import load_mount
    from cotune.serving import ServeSettings, create_app

    settings = ServeSettings()
    client = TestClient(create_app(settings, {}, [load_mount("movies", trained, settings)]))
    with client:
        url = "/v1/recommenders/movies/recommend"
        ok = client.post(url, json={"user": "u3", "k": 4})
        assert ok.status_code == 200, ok.text
        assert len(ok.json()["items"]) == 4 and ok.json()["fallback"] is None
        by_history = client.post(url, json={"history": [1, "3", {"item": "x", "text": "paris"}]})
        assert by_history.status_code == 200, by_history.text
        assert client.post(url, json={"user": "ghost"}).json()["fallback"] == "popularity"
        for body in (
            {"user": 1.5},
            {"user": True},
            {"history": [None]},
            {"k": 3},
            {"user": "u3", "history": []},
            {"user": "u3", "k": "4"},
            {"history": ["missing"]},
        ):
            bad = client.post(url, json=body)
            assert bad.status_code == 422, (body, bad.text)
            assert bad.json()["error"]["message"]
        assert client.get("/v1/recommenders/movies").json()["users"] == 16


def test_cli_train_and_recommend(trained: Path, tiny_backbone: Path, tmp_path: Path) -> None:
    from cotune.cli.main import app

    runner = CliRunner()
    out = runner.invoke(app, ["recommend", str(trained), "--user", "u2", "--k", "3", "--json"])
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.stdout)["items"]) == 3
    history = tmp_path / "h.jsonl"
    history.write_text('{"item": "1"}\n{"item": 3.5}\n')
    bad = runner.invoke(app, ["recommend", str(trained), "--history", str(history)])
    assert bad.exit_code == 2 and f"{history}:2" in bad.output
    both = runner.invoke(app, ["recommend", str(trained)])
    assert both.exit_code == 2 and "--user" in both.output


def test_config_errors_name_the_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  source: ml-100k\ntrain:\n  epochz: 2\n")
    with pytest.raises(ConfigError) as e:
        load_recommend_config(path)
    assert "train.epochz" in str(e.value) and e.value.where == f"{path}:4"
    path.write_text("data:\n  source: ml-100k\n  items: x.jsonl\n")
    with pytest.raises(ConfigError, match="not both"):
        load_recommend_config(path)


def test_lora_trains_only_adapters_and_saves_a_plain_encoder(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(tiny_backbone, tmp_path, name="lora", r=2)
    out = train_recommender(cfg, progress=False)
    training = json.loads((out / "metrics.json").read_text())["training"]
    assert 0 < training["trainable_params"] < training["params_total"] / 5
    assert Recommender.load(out).recommend(user="u1", k=2)["fallback"] is None


def test_shipped_config_runs_a_step(tiny_backbone: Path, tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "configs" / "recommend"
    for path in sorted(shipped.glob("*.yaml")):
        assert load_recommend_config(path).data.source == "ml-100k"
        inter, items = write_data(tmp_path / path.stem)
        overrides = {
            "data.source": None,
            "data.interactions": str(inter),
            "data.items": str(items),
            "model.backbone": str(tiny_backbone),
            "train.max_steps": 1,
            "train.batch_size": 4,
            "rank.candidates": 8,
            "output_dir": str(tmp_path / "runs"),
        }
        out = train_recommender(load_recommend_config(path, overrides), progress=False)
        assert json.loads((out / "metrics.json").read_text())["training"]["steps"] == 1


def test_served_ranking_is_the_evaluated_ranking(trained: Path) -> None:
    """`recommend` (index search + candidates' scores) orders items exactly as the evaluation's
    HybridScorer (exact scores over every unseen item) does: the metrics measure what users get."""
    import numpy as np

    model = Recommender.load(trained)
    for user in ("u0", "u5", "u10"):
        history = model.histories[user]
        row = model.hybrid.score([user], [history])[0]
        seen = {model.idx[i] for i in history}
        expected = [model.catalog[r] for r in np.argsort(-row, kind="stable") if r not in seen]
        served = [r["item"] for r in model.recommend(user=user, k=6)["items"]]
        assert served == expected[:6]


def test_served_routes_share_the_api_keys(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cotune.apps.recommend.serve import load_mount
    from cotune.serving import ServeSettings, create_app

    monkeypatch.setenv("REC_KEYS", "k1")
    settings = ServeSettings(api_keys_env="REC_KEYS")
    client = TestClient(create_app(settings, {}, [load_mount("m", trained, settings)]))
    with client:
        url = "/v1/recommenders/m/recommend"
        assert client.post(url, json={"user": "u1"}).status_code == 401
        assert client.get("/v1/recommenders/m").status_code == 401
        ok = client.post(url, json={"user": "u1"}, headers={"X-API-Key": "k1"})
        assert ok.status_code == 200, ok.text
