"""Text-based recommendation on MovieLens-100k (issue 24): the fine-tuned two towers and the
re-ranked hybrid against popularity, item-kNN, ALS (implicit), TF-IDF content similarity and
off-the-shelf minilm-l6 embeddings, on warm and cold-start items, in one invocation.

Split: `configs/recommend/recommend-ml100k.yaml`'s (cold: a seeded fifth of the films never
in training; leave-last-out per user over the rest). Every model ranks each test target in its
full pool of unseen items (warm: items in training; cold: the held-out fifth). Two frozen
minilm-l6 variants: the mean of the history films' vectors, and the two-tower input (the
recent-history text) through the untuned encoder. The trained model comes from
`cotune recommend train` (the recipe, run here unless --reuse names its folder). Also: a paired
bootstrap of per-user nDCG@10 differences, training time, and recommendations per second
through `Recommender.recommend` (index search, features, re-ranking, explanations).

Prints and writes bench/results/recommend.json and bench/results/recommend.md.

    nice -n 10 .venv/bin/python bench/recommend.py
    nice -n 10 .venv/bin/python bench/recommend.py --reuse runs/recommend-ml100k
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CONFIG = ROOT / "configs" / "recommend" / "recommend-ml100k.yaml"
METRICS = ("recall@10", "ndcg@10", "mrr")
ORDER = (
    "popularity",
    "item-kNN",
    "ALS (implicit)",
    "TF-IDF content",
    "minilm-l6 frozen, mean of history",
    "minilm-l6 frozen, history text",
    "two-tower fine-tuned",
    "hybrid re-ranked",
)


def paired(a: list[float], b: list[float], samples: int = 5000, seed: int = 0) -> dict[str, Any]:
    """Mean difference a - b over users, with a 95% paired-bootstrap interval."""
    diff = np.asarray(a) - np.asarray(b)
    idx = np.random.default_rng(seed).integers(0, len(diff), size=(samples, len(diff)))
    means = diff[idx].mean(axis=1)
    return {
        "diff": float(diff.mean()),
        "ci95": [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))],
        "p_not_better": float(np.mean(means <= 0)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reuse", type=Path, help="a trained recommender folder to evaluate")
    ap.add_argument("--output-dir", type=Path, default=ROOT / "runs")
    ap.add_argument("--speed-users", type=int, default=200)
    ap.add_argument(
        "--threads", type=int, default=2, help="torch threads (1 is faster on a crowded machine)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "recommend.json")
    args = ap.parse_args()

    import torch

    from cotune.apps.recommend import baselines as B
    from cotune.apps.recommend.config import load_recommend_config
    from cotune.apps.recommend.evaluate import evaluate_with_cases
    from cotune.apps.recommend.model import Recommender
    from cotune.apps.recommend.recipe import load_data, train_recommender
    from cotune.apps.recommend.splits import make_split
    from cotune.apps.recommend.towers import TowerScorer
    from cotune.retrieval.encoder import SentenceEncoder
    from machine import machine  # type: ignore[import-not-found]

    torch.set_num_threads(args.threads)
    cfg = load_recommend_config(CONFIG, {"output_dir": str(args.output_dir)})
    data = load_data(cfg)
    split = make_split(
        data, cfg.data.split, cold_fraction=cfg.data.cold_fraction, seed=cfg.data.seed
    )
    texts = {i: it.text for i, it in data.items.items()}
    results: dict[str, Any] = {"models": {}, "seconds": {}}
    per_case: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def run(name: str, build: Any) -> None:
        start = time.perf_counter()
        scorer = build()
        summary, cases = evaluate_with_cases(split, scorer)
        results["models"][name] = summary
        results["seconds"][name] = time.perf_counter() - start
        per_case[name] = cases
        shown = {s: round(m["ndcg@10"], 4) for s, m in summary.items()}
        print(f"{name}: nDCG@10 {shown} ({results['seconds'][name]:.0f}s)", flush=True)

    start = time.perf_counter()
    folder = args.reuse or train_recommender(cfg, overwrite=True, progress=False)
    results["recipe_seconds"] = None if args.reuse else time.perf_counter() - start
    trained = json.loads((folder / "metrics.json").read_text())
    cases = json.loads((folder / "cases.json").read_text())
    for key, name in (("two-tower", "two-tower fine-tuned"), ("hybrid", "hybrid re-ranked")):
        results["models"][name] = trained[key]
        per_case[name] = cases[key]
    results["training"] = trained["training"]
    results["split"] = trained["split"]
    print(json.dumps({k: trained[k] for k in ("two-tower", "hybrid", "training")}), flush=True)

    run("popularity", lambda: B.Popularity(split))
    run("item-kNN", lambda: B.ItemKNN(split))
    run("ALS (implicit)", lambda: B.ALS(split, seed=cfg.train.seed))
    run("TF-IDF content", lambda: B.TfidfContent(split, texts))
    frozen = SentenceEncoder(cfg.model.backbone, max_length=cfg.model.max_length)
    vectors = frozen.encode([texts[i] for i in split.items])
    run("minilm-l6 frozen, mean of history", lambda: B.FrozenMean(split, vectors))
    run(
        "minilm-l6 frozen, history text",
        lambda: TowerScorer(frozen, vectors, texts, cfg.model.history_len),
    )

    comparisons = {}
    for split_name in ("cold_test", "test"):
        for a, b in (
            ("two-tower fine-tuned", "minilm-l6 frozen, history text"),
            ("two-tower fine-tuned", "minilm-l6 frozen, mean of history"),
            ("two-tower fine-tuned", "TF-IDF content"),
            ("hybrid re-ranked", "two-tower fine-tuned"),
            ("hybrid re-ranked", "ALS (implicit)"),
            ("hybrid re-ranked", "item-kNN"),
        ):
            ra, rb = per_case[a][split_name], per_case[b][split_name]
            assert [r["user"] for r in ra] == [r["user"] for r in rb]
            comparisons[f"{split_name}: {a} - {b}"] = paired(
                [r["ndcg@10"] for r in ra], [r["ndcg@10"] for r in rb]
            )
    results["paired_ndcg@10"] = comparisons

    model = Recommender.load(folder)
    users = sorted(model.histories)[: args.speed_users]
    model.recommend(user=users[0], k=10)  # warm-up
    start = time.perf_counter()
    for user in users:
        model.recommend(user=user, k=10)
    results["recommendations_per_s"] = len(users) / (time.perf_counter() - start)
    results["speed_users"] = len(users)
    results["machine"] = machine()
    results["threads"] = args.threads
    results["config"] = str(CONFIG.relative_to(ROOT))
    results["folder"] = str(folder)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    md = table(results)
    args.out.with_suffix(".md").write_text(md)
    print(md)


def table(results: dict[str, Any]) -> str:
    lines = [
        "| model | warm R@10 | warm nDCG@10 | warm MRR | cold R@10 | cold nDCG@10 | cold MRR |",
        "|---|---|---|---|---|---|---|",
    ]
    order = [n for n in ORDER if n in results["models"]]
    for name in order:
        m = results["models"][name]
        cells = [
            f"{m[s][k]:.4f}" if s in m else "-" for s in ("test", "cold_test") for k in METRICS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| paired nDCG@10 difference | mean | 95% CI | P(not better) |",
        "|---|---|---|---|",
    ]
    for name, c in results["paired_ndcg@10"].items():
        lines.append(
            f"| {name} | {c['diff']:+.4f} | [{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}] "
            f"| {c['p_not_better']:.3f} |"
        )
    tr = results["training"]
    lines += [
        "",
        f"Training: {tr['steps']} steps on {tr['pairs']} pairs in "
        f"{tr['train_seconds']:.0f}s; index + ALS + re-ranker "
        f"{tr['index_and_ranker_seconds']:.0f}s. "
        f"Recommendations/s (one user at a time, k=10): {results['recommendations_per_s']:.1f}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
