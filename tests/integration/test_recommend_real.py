"""The recommender on MovieLens-100k with the real minilm-l6 (slow: `make integration`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotune.apps.recommend.config import load_recommend_config
from cotune.apps.recommend.model import Recommender
from cotune.apps.recommend.recipe import train_recommender

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_ml100k_two_towers_rank_cold_films_above_chance(tmp_path: Path) -> None:
    cfg = load_recommend_config(
        ROOT / "configs/recommend/recommend-ml100k.yaml",
        {"train.max_steps": 20, "output_dir": str(tmp_path)},
    )
    out = train_recommender(cfg, progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    # chance on the ~336 held-out films is about 0.014 nDCG@10 (popularity's figure there)
    assert metrics["two-tower"]["cold_test"]["ndcg@10"] > 0.03
    assert metrics["hybrid"]["test"]["ndcg@10"] > 0.05  # popularity: 0.052
    model = Recommender.load(out)
    seen = set(model.histories["196"])
    answer = model.recommend(user="196", k=10)
    assert answer["fallback"] is None and len(answer["items"]) == 10
    assert not {r["item"] for r in answer["items"]} & seen
    assert all({b["item"] for b in r["because"]} <= seen for r in answer["items"])
