"""Distillation bench: teacher MiniLM-L6 vs 3-layer students, fine-tuned directly and distilled.

Per data set (WNUT-16 NER, rt-polarity classification), five models trained from the shipped
configs (configs/wnut16-ner.yaml, configs/rt-polarity.yaml, configs/distill/*.yaml):

* teacher-l6            minilm-l6 fine-tuned (the teacher)
* l3-drop-direct        the teacher's layers 0,2,4 trained on hard labels only (alpha 0)
* l3-drop-distilled     the same student distilled (soft targets, the config's alpha/T)
* l3-import-direct      catalog `minilm-l3` (imported from ONNX) fine-tuned directly
* l3-import-distilled   catalog `minilm-l3` distilled from the teacher

Reported: test metric (F1 / accuracy), parameters, PyTorch inference words/s at batch 1 and 32
(one thread, `task.predict` on the same test sentences), retention % of the teacher's metric and
speed-up at batch 32. "l3-drop-direct" starts from the *fine-tuned* teacher's layers (the
DistilBERT-style initialisation), so it isolates the effect of the soft targets.

    python bench/distill.py                                       # full run (hours on 2 cores)
    python bench/distill.py --datasets rt-polarity --reuse        # keep finished models whose
                                                                  # saved config is the same
    python bench/distill.py --limit 32 --max-steps 2 --speed-limit 16 --datasets wnut16 \
        --out /tmp/distill_smoke --runs /tmp/distill_runs            # self-check, minutes

Writes bench/results/distill.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
import yaml

from cotune.artifact import load_artifact
from cotune.config import load_config
from cotune.config.schema import DataConfig
from cotune.data.load import load_splits
from cotune.distill.load import load_distill_config
from cotune.recipes.distill import distill
from cotune.recipes.finetune import finetune

sys.path.insert(0, str(Path(__file__).parent))
from onnx_speed import words_per_second

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
DATASETS = {
    "wnut16": ("configs/wnut16-ner.yaml", "configs/distill/distill-wnut16.yaml"),
    "rt-polarity": ("configs/rt-polarity.yaml", "configs/distill/distill-rt-polarity.yaml"),
}


def common(args: argparse.Namespace, name: str) -> dict[str, Any]:
    o: dict[str, Any] = {"name": name, "output_dir": str(args.runs)}
    if args.limit:
        o["data.limit"] = args.limit
    if args.max_steps:
        o["train.max_steps"] = args.max_steps
    return o


def finished(cfg: Any) -> Path | None:
    """The run folder `cfg` would write, if it holds a finished run of the very same config.

    Finished = metrics.json written (the last file a recipe writes); same = its run_config.yaml
    equals `cfg` field for field, tracking aside (where a run is logged changes nothing it
    computes). A folder from an older schema or other settings is trained again.
    """
    out = cfg.output_dir / cfg.run_name()
    if not (out / "metrics.json").is_file() or not (out / "run_config.yaml").is_file():
        return None
    saved = yaml.safe_load((out / "run_config.yaml").read_text(encoding="utf-8"))
    now = cfg.model_dump(mode="json")
    saved.pop("tracking", None)
    now.pop("tracking", None)
    if saved != now:
        print(f"[distill bench] {out.name}: saved config differs, training again", flush=True)
        return None
    print(f"[distill bench] {out.name}: finished run with the same config, reused", flush=True)
    return out


def train_all(ds: str, args: argparse.Namespace) -> dict[str, Path]:
    base, dcfg = (ROOT / p for p in DATASETS[ds])

    def tuned(name: str, **extra: Any) -> Path:
        cfg = load_config(base, {**common(args, name), **extra})
        return (finished(cfg) if args.reuse else None) or finetune(cfg, overwrite=True)

    teacher_cfg = load_config(base, common(args, f"{ds}-teacher-l6"))
    teacher = finished(teacher_cfg) if args.reuse else None
    # students of a teacher trained anew are stale even where their own config is the same
    reuse_students = teacher is not None
    teacher = teacher or finetune(teacher_cfg, overwrite=True)

    def distilled(name: str, **extra: Any) -> Path:
        cfg = load_distill_config(dcfg, {**common(args, name), **extra})
        return (finished(cfg) if reuse_students else None) or distill(cfg, overwrite=True)

    t = {"distill.teacher": str(teacher)}
    imported = {"distill.layers": None, "model.backbone": "minilm-l3"}
    return {
        "teacher-l6": teacher,
        "l3-drop-direct": distilled(f"{ds}-l3-drop-direct", **t, **{"distill.alpha": 0.0}),
        "l3-drop-distilled": distilled(f"{ds}-l3-drop-distilled", **t),
        "l3-import-direct": tuned(f"{ds}-l3-import-direct", **{"model.backbone": "minilm-l3"}),
        "l3-import-distilled": distilled(f"{ds}-l3-import-distilled", **t, **imported),
    }


def measure(ds: str, folders: dict[str, Path], args: argparse.Namespace) -> list[dict[str, Any]]:
    torch.set_num_threads(1)
    rows = []
    for name, folder in folders.items():
        metrics = json.loads((folder / "metrics.json").read_text())
        metric = metrics["training"]["metric"]
        predictor = load_artifact(folder)
        splits, _ = load_splits(DataConfig(**predictor.meta.config["data"]))
        examples = list(splits.test)[: args.speed_limit]
        rows.append(
            {
                "dataset": ds,
                "model": name,
                "metric": metric,
                "test": round(float(metrics["test"][metric]), 4),
                "dev": round(float(metrics["dev"][metric]), 4),
                "params": int(sum(p.numel() for p in predictor.model.parameters())),
                "words_per_s_b1": round(words_per_second(predictor, examples, 1, args.repeat), 1),
                "words_per_s_b32": round(words_per_second(predictor, examples, 32, args.repeat), 1),
                "folder": str(folder),
            }
        )
    teacher = rows[0]
    for r in rows:
        r["retention_pct"] = (
            round(100 * r["test"] / teacher["test"], 2) if teacher["test"] else None
        )
        r["speedup_b32"] = round(r["words_per_s_b32"] / teacher["words_per_s_b32"], 2)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# Distillation: MiniLM-L6 teacher vs 3-layer students (PyTorch fp32, 1 thread)",
        "",
        "| data | model | test metric | params | words/s b1 | words/s b32 | retention % "
        "| speed-up b32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['metric']} {r['test']:.4f} | "
            f"{r['params'] / 1e6:.1f} M | {r['words_per_s_b1']:.0f} | {r['words_per_s_b32']:.0f} "
            f"| {r['retention_pct']} | {r['speedup_b32']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--limit", type=int, default=None, help="data.limit (smoke runs).")
    ap.add_argument("--max-steps", type=int, default=None, help="train.max_steps (smoke runs).")
    ap.add_argument("--speed-limit", type=int, default=500, help="Test sentences timed.")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-distill")
    ap.add_argument("--out", type=Path, default=RESULTS / "distill")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep finished models in --runs whose saved config equals today's (resume a bench "
        "that was stopped); every model is still timed again",
    )
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for ds in args.datasets:
        rows += measure(ds, train_all(ds, args), args)
        args.out.parent.mkdir(parents=True, exist_ok=True)  # written after each data set
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2))
        args.out.with_suffix(".md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
