"""Hyper-parameter search benchmark: a 12-trial Optuna study on rt-polarity with MiniLM-L6,
against the shipped default config (configs/rt-polarity.yaml).

The study searches learning rate, batch size, warm-up, weight decay and epochs (TPE, seeded;
median pruning on dev accuracy after each epoch). Trials are compared on dev; the best trial's
artifact is kept, scored on test once, and registered. The default config is trained once on the
same split for comparison. Everything is tracked in an MLflow SQLite store in the work folder.

Writes bench/results/hpo.json, bench/results/hpo.md and the two study plots
(hpo_optimization_history.png, hpo_param_importances.png).

    .venv/bin/python bench/hpo_rt_polarity.py                        # full run
    .venv/bin/python bench/hpo_rt_polarity.py --trials 2 --limit 40  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "rt-polarity.yaml"
RESULTS = ROOT / "bench" / "results"

SPACE: dict[str, dict[str, Any]] = {
    "train.lr": {"type": "float", "low": 1.0e-5, "high": 2.0e-4, "log": True},
    "train.batch_size": {"type": "categorical", "choices": [16, 32]},
    "train.warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
    "train.weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
    "train.epochs": {"type": "int", "low": 2, "high": 5},
}


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    work = args.work
    out: dict[str, Any] = {
        "output_dir": str(work),
        "tracking.backend": "mlflow",
        "tracking.uri": str(work / "mlruns.db"),
        "tracking.experiment": "bench-hpo-rt-polarity",
    }
    if args.limit:
        out["data.limit"] = args.limit
    if args.threads:
        out["train.threads"] = args.threads
    if args.backbone:
        out["model.backbone"] = args.backbone
    return out


def run_default(args: argparse.Namespace) -> dict[str, Any]:
    from cotune.config import load_config
    from cotune.recipes.finetune import finetune

    cfg = load_config(CONFIG, {**_overrides(args), "name": "default"})
    t0 = time.perf_counter()
    out = finetune(cfg, overwrite=True, progress=False)
    wall = time.perf_counter() - t0
    m = json.loads((out / "metrics.json").read_text())
    return {
        "dev_accuracy": m["dev"]["accuracy"],
        "test_accuracy": m["test"]["accuracy"],
        "epochs": m["training"]["epochs"],
        "words_per_s": m["training"]["words_per_s"],
        "wall_s": round(wall, 1),
        "config": cfg.train.model_dump(mode="json"),
        "folder": str(out),
        "run_id": json.loads((out / "tracking.json").read_text())["run_id"],
    }


def run_study(args: argparse.Namespace) -> dict[str, Any]:
    from cotune.config import load_config
    from cotune.hpo import tune

    overrides = {
        **_overrides(args),
        "name": "rt-polarity-hpo",
        "tune": {
            "trials": args.trials,
            "params": SPACE,
            "seed": 0,
            "pruner_startup_trials": 3,
            "pruner_warmup_evals": 1,
            "model_name": "rt-polarity-minilm",
        },
    }
    cfg = load_config(CONFIG, overrides)
    t0 = time.perf_counter()
    result = tune(cfg, progress=False, echo=lambda line: print(line, flush=True))
    wall = time.perf_counter() - t0
    return {**result.to_dict(), "wall_s": round(wall, 1)}


def _markdown(res: dict[str, Any]) -> str:
    d, s = res["default"], res["study"]
    states = [t["state"] for t in s["trials"]]
    gpu = f", GPU {res['system']['cuda']}" if res["system"].get("cuda") else ""
    lines = [
        "# HPO on rt-polarity (MiniLM-L6)",
        "",
        f"{len(states)} trials ({states.count('COMPLETE')} complete, {states.count('PRUNED')} "
        f"pruned), TPE seed 0, median pruning on dev accuracy per epoch; "
        f"data.limit={res['limit']}; {res['system']['cpu_usable']} CPU cores "
        f"({res['system']['cpu']}){gpu}, torch {res['system']['torch']}.",
        "",
        "| | dev accuracy | test accuracy | wall time |",
        "|---|---|---|---|",
        f"| default config | {d['dev_accuracy']:.4f} | {d['test_accuracy']:.4f} | "
        f"{d['wall_s']:.0f} s |",
        f"| best of study (trial {s['best_trial']}) | {s['best_value']:.4f} | "
        f"{s['test'].get('accuracy', float('nan')):.4f} | {s['wall_s']:.0f} s (whole study) |",
        "",
        f"Dev accuracy gain over the default: {100 * (s['best_value'] - d['dev_accuracy']):+.2f} "
        f"points. Test is scored once, on the kept artifact only (registered as "
        f"`{s['registered']}`).",
        "",
        "Best parameters: "
        + ", ".join(
            f"`{k}={v:.3g}`" if isinstance(v, float) else f"`{k}={v}`"
            for k, v in s["best_params"].items()
        ),
        "",
        "| trial | state | dev accuracy | evals | seconds | " + " | ".join(SPACE) + " |",
        "|---" * (5 + len(SPACE)) + "|",
    ]
    for t in s["trials"]:
        value = f"{t['value']:.4f}" if t["value"] is not None else "-"
        params = [
            f"{t['params'].get(k):.3g}"
            if isinstance(t["params"].get(k), float)
            else str(t["params"].get(k))
            for k in SPACE
        ]
        lines.append(
            f"| {t['number']} | {t['state']} | {value} | {t['evals']} | {t['seconds']} | "
            + " | ".join(params)
            + " |"
        )
    lines += [
        "",
        "![optimisation history](hpo_optimization_history.png)",
        "![parameter importance](hpo_param_importances.png)",
        "",
        f"Command: `{res['command']}`",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--limit", type=int, default=None, help="data.limit (smoke runs)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--backbone", default=None, help="default: the config's (minilm-l6)")
    p.add_argument(
        "--work",
        type=Path,
        default=Path(os.environ.get("COTUNE_BENCH_RUNS", "/tmp/cotune-bench-runs")) / "hpo",
        help="folder for runs, the MLflow store and the Optuna study (wiped first)",
    )
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    disable_progress_bars()
    from cotune.tracking import system_info

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    t0 = time.perf_counter()
    default = run_default(args)
    print(f"default config: dev accuracy {default['dev_accuracy']:.4f} in {default['wall_s']} s")
    study = run_study(args)
    res = {
        "default": default,
        "study": study,
        "dev_gain_points": round(100 * (study["best_value"] - default["dev_accuracy"]), 2),
        "limit": args.limit,
        "total_wall_s": round(time.perf_counter() - t0, 1),
        "system": system_info(),
        "command": " ".join(["python bench/hpo_rt_polarity.py", *(argv or sys.argv[1:])]),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    for name, path in study["plots"].items():
        if path.endswith(".png"):
            shutil.copy(path, args.results / f"hpo_{name}.png")
    (args.results / "hpo.json").write_text(json.dumps(res, indent=2))
    (args.results / "hpo.md").write_text(_markdown(res))
    print(_markdown(res))


if __name__ == "__main__":
    main()
