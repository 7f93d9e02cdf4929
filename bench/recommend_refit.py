"""Re-fit the re-ranker of a trained ml-100k recommender on the warm dev targets (the fix of
commit 0ef5ede) and re-evaluate the hybrid, without re-training the towers.

    nice -n 10 .venv/bin/python bench/recommend_refit.py   # after bench/recommend.py
"""

import json
import time

from cotune.apps.recommend.config import load_recommend_config
from cotune.apps.recommend.evaluate import evaluate_with_cases
from cotune.apps.recommend.model import Recommender
from cotune.apps.recommend.recipe import load_data
from cotune.apps.recommend.splits import make_split

cfg = load_recommend_config("configs/recommend/recommend-ml100k.yaml")
m = Recommender.load("runs/recommend-ml100k")
data = load_data(cfg)
split = make_split(data, "cold", cold_fraction=0.2, seed=13)
t = time.time()
m.hybrid.fit(split.cases["dev"], 0)
print("fit", time.time() - t, flush=True)
summary, cases = evaluate_with_cases(split, m.hybrid)
print(json.dumps(summary), flush=True)
with open("bench/results/recommend_hybrid_refit.json", "w") as f:
    json.dump(
        {"hybrid_warm_dev_fit": summary, "reranker": m.hybrid.reranker.to_json()}, f, indent=2
    )
