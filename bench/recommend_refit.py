"""Re-fit the re-ranker of a trained ml-100k recommender the way the recipe now fits it (a
pairwise ranker on warm and cold dev targets, each against its own pool) and re-evaluate the
hybrid, without re-training the towers: the re-ranker's effect alone, on the same towers, index
and ALS as `bench/recommend.py`'s run.

    .venv/bin/python bench/recommend_refit.py   # after bench/recommend.py
"""

import argparse
import json
import time

from cotune.apps.recommend.config import load_recommend_config
from cotune.apps.recommend.evaluate import evaluate_with_cases, pools
from cotune.apps.recommend.model import Recommender
from cotune.apps.recommend.recipe import load_data
from cotune.apps.recommend.splits import make_split

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--folder", default="runs/recommend-ml100k")
ap.add_argument("--out", default="bench/results/recommend_hybrid_pairwise.json")
args = ap.parse_args()
cfg = load_recommend_config("configs/recommend/recommend-ml100k.yaml")
m = Recommender.load(args.folder)
data = load_data(cfg)
split = make_split(data, "cold", cold_fraction=0.2, seed=13)
t = time.time()
m.hybrid.fit(split.cases["dev"] + split.cases["cold_dev"], pools(split), 0)
fit_s = time.time() - t
print("fit", fit_s, flush=True)
summary, cases = evaluate_with_cases(split, m.hybrid)
print(json.dumps(summary), flush=True)
with open(args.out, "w") as f:
    json.dump(
        {
            "command": "python bench/recommend_refit.py",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "hybrid_pairwise_warm_and_cold_dev": summary,
            "fit_seconds": fit_s,
            "reranker": m.hybrid.reranker.to_json(),
        },
        f,
        indent=2,
    )
