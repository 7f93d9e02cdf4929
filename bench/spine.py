"""Spine benchmark: cotune vs the Hugging Face Trainer recipe vs pad-to-128, side by side.

On the WNUT-16 split (seed 13, 80/10/10) and on rt-polarity, with MiniLM-L6, each recipe runs in
its own fresh process, one after the other, in this one invocation (so the throughput ratios
compare like with like on the same machine and the same minute):

* ``hf-trainer``     transformers' run_ner / run_glue recipe (bench/baselines.py), dynamic padding
* ``pad-to-128``     the same, every sequence padded to 128
* ``cotune-matched`` (--matched) cotune with the same epochs, learning rate and batch size (no
                     warm-up, no weight decay, no early stopping), so only the engine differs
* ``cotune``         cotune's shipped recipe (configs/wnut16-ner.yaml, configs/rt-polarity.yaml)

Prints and writes bench/results/spine.json and bench/results/spine.md.

    .venv/bin/python bench/spine.py                 # full run (about 1 h on 2 cores)
    .venv/bin/python bench/spine.py --limit 200 --epochs 0.2 --tasks ner   # smoke
    .venv/bin/python bench/spine.py --tasks ner --no-pad-to-128   # cotune vs the HF Trainer
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

CONFIGS = {
    "ner": ROOT / "configs" / "wnut16-ner.yaml",
    "cls": ROOT / "configs" / "rt-polarity.yaml",
}
SOURCES = {"ner": "wnut16", "cls": "rt-polarity"}


def _cotune_child(cfg_path: str, overrides: dict[str, Any], threads: int) -> dict[str, Any]:
    """Run cotune's fine-tune in this (fresh) process; report metrics, time and peak memory."""
    import torch

    from baselines import _PeakRss  # type: ignore[import-not-found]
    from cotune.config import load_config
    from cotune.recipes.finetune import finetune

    torch.set_num_threads(threads)
    cfg = load_config(cfg_path, overrides)
    t0 = time.perf_counter()
    with _PeakRss() as peak:
        out = finetune(cfg, overwrite=True, progress=False)
    wall = time.perf_counter() - t0
    m = json.loads((out / "metrics.json").read_text())
    tr = m["training"]
    key = tr["metric"]
    return {
        "dev": {key: m["dev"][key]},
        "test": {key: m["test"][key]},
        "train_words": tr["train_words"],
        "train_seconds": tr["train_seconds"],
        "words_per_s": tr["words_per_s"],
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": round(peak.peak_mb, 1),
        "epochs": tr["epochs"],
        "best_step": tr["best_step"],
        "stopped_early": tr["stopped_early"],
        "artifact": str(out),
    }


def _spawn(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()  # type: ignore[no-any-return]


def run(task: str, args: argparse.Namespace, out_dir: Path) -> list[dict[str, Any]]:
    from baselines import train_hf_trainer
    from cotune.config.schema import DataConfig
    from cotune.data import load_splits
    from cotune.models.catalog import resolve_backbone

    splits, _ = load_splits(DataConfig(source=SOURCES[task], limit=args.limit))
    model = str(resolve_backbone("minilm-l6"))
    common = {
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "threads": args.threads,
    }
    rows: list[dict[str, Any]] = []

    def record(name: str, result: dict[str, Any]) -> None:
        result = {"task": task, "recipe": name, **result}
        rows.append(result)
        key = "f1" if task == "ner" else "accuracy"
        print(
            f"[{task}] {name}: dev {result['dev'][key]:.4f} test {result['test'][key]:.4f} "
            f"{result['words_per_s']:.0f} words/s, {result['train_seconds']:.0f}s train, "
            f"peak {result['peak_rss_mb']:.0f} MB",
            flush=True,
        )

    for pad in (False, True) if args.pad_to_128 else (False,):
        t0 = time.perf_counter()
        res = _spawn(
            train_hf_trainer,
            task,
            splits.train,
            splits.dev,
            splits.test,
            model,
            pad_to_max=pad,
            **common,
        )
        res["wall_seconds"] = round(time.perf_counter() - t0, 1)
        record("pad-to-128" if pad else "hf-trainer", res)

    base = {"output_dir": str(out_dir), "train.threads": args.threads}
    if args.limit:
        base["data.limit"] = args.limit
    matched = {
        **base,
        "name": f"bench-{task}-matched",
        "train.epochs": args.epochs,
        "train.lr": args.lr,
        "train.batch_size": args.batch_size,
        "train.seed": args.seed,
        "train.warmup_ratio": 0.0,
        "train.weight_decay": 0.0,
        "train.early_stopping_patience": None,
    }
    if args.matched:
        record("cotune-matched", _spawn(_cotune_child, str(CONFIGS[task]), matched, args.threads))
    if not args.skip_recipe:
        shipped = {**base, "name": f"bench-{task}-recipe"}
        if args.recipe_epochs:
            shipped["train.epochs"] = args.recipe_epochs
        record("cotune", _spawn(_cotune_child, str(CONFIGS[task]), shipped, args.threads))
    return rows


def _ratio(value: float, ref: float | None) -> str:
    return "-" if ref is None else f"{value / ref:.2f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| task | recipe | dev | test | train words/s | x hf-trainer | x pad-to-128 "
        "| train s | wall s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        key = "f1" if r["task"] == "ner" else "accuracy"
        ref = {x["recipe"]: x["words_per_s"] for x in rows if x["task"] == r["task"]}
        lines.append(
            f"| {SOURCES[r['task']]} | {r['recipe']} | {r['dev'][key]:.4f} | {r['test'][key]:.4f} "
            f"| {r['words_per_s']:.0f} | {r['words_per_s'] / ref['hf-trainer']:.2f} "
            f"| {_ratio(r['words_per_s'], ref.get('pad-to-128'))} | {r['train_seconds']:.0f} "
            f"| {r['wall_seconds']:.0f} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", default="ner,cls")
    ap.add_argument("--epochs", type=float, default=5)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--recipe-epochs", type=float, default=None)
    ap.add_argument("--skip-recipe", action="store_true")
    ap.add_argument(
        "--matched", action="store_true", help="also run cotune with the baselines' exact settings"
    )
    ap.add_argument(
        "--no-pad-to-128",
        dest="pad_to_128",
        action="store_false",
        help="skip the pad-to-128 baseline (the slowest run; the 2x target is against hf-trainer)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "spine.json")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run_dir = Path(os.environ.get("COTUNE_BENCH_RUNS", "/tmp/cotune-bench-runs"))
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    rows = []
    for task in args.tasks.split(","):
        rows += run(task, args, run_dir)
    result = {
        "command": "python " + " ".join(sys.argv),
        "started": started,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "settings": vars(args) | {"out": str(args.out)},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    md = markdown(rows)
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
