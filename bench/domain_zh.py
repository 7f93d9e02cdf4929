"""Chinese domain adaptation of MiniLM-L6: as shipped vs vocabulary extended vs extended and
pre-trained further, on People's Daily NER (entity F1) and chnsenti (accuracy).

Variants (issue 8):

* ``a-shipped``    minilm-l6 as shipped (knows 244 CJK characters: most input is [UNK])
* ``b-extended``   + the CJK characters of the two corpora's training splits (min frequency 2),
                   new rows = mean embedding + noise
* ``c-pretrained`` b + continued masked-LM pre-training on the same Chinese text (People's
                   Daily + chnsenti training splits) for a bounded budget (--pretrain-minutes)

One extended backbone serves b and c (and both tasks), so c - b is the pre-training alone.
Fine-tuning uses the shipped configs (configs/peoples-daily-ner.yaml, configs/chnsenti.yaml:
full fine-tuning, lr 1e-4 / 5e-5, batch 32, 2 epochs) on a training subset of the seeded split
(seed 13, 80/10/10): --train-limit People's Daily sentences (~40 characters each) and
--cls-train-limit reviews (~60), with dev/test cut to --eval-limit each. Pre-training reads the
full training splits (~66k texts, ~3.5M characters; configs/pretrain/pretrain-zh.yaml, lr 2e-4,
batch 32) for --pretrain-minutes of training time (a step count fixed by a timed probe), or
--pretrain-steps. The unknown-token rate of each test set under each variant's tokenizer is
reported too.

Resumable: a row is skipped when the JSON already holds it under the same settings; the
extended backbone and a finished pre-training under --work are reused, an interrupted
pre-training resumed (delete --work to start over). Writes bench/results/domain_zh.json + .md.

    .venv/bin/python bench/domain_zh.py      # full run: ~65-75 min on the quiet 2-core CPU
    .venv/bin/python bench/domain_zh.py --device cuda --pretrain-minutes 6 \\
        --out bench/results/domain_zh_h100.json     # the GPU run of benchmarks.md 6a (~12 min)
    .venv/bin/python bench/domain_zh.py --train-limit 64 --cls-train-limit 64 --eval-limit 32 \\
        --epochs 0.5 --pretrain-steps 3 --work /tmp/dzh --out /tmp/dzh/domain_zh.json  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "ner": ROOT / "configs" / "peoples-daily-ner.yaml",
    "cls": ROOT / "configs" / "chnsenti.yaml",
}
SOURCES = {"ner": "peoples-daily-1998", "cls": "chnsenti"}
METRIC = {"ner": "f1", "cls": "accuracy"}
VARIANTS = ("a-shipped", "b-extended", "c-pretrained")


def write_split_files(task: str, args: argparse.Namespace, work: Path) -> dict[str, str]:
    """The seeded split's train subset and dev/test cuts as files the fine-tune config reads."""
    from cotune.config.schema import DataConfig
    from cotune.data import load_splits
    from cotune.data.examples import TextExample, TokenExample
    from cotune.files import atomic_write_text

    splits, _ = load_splits(DataConfig(source=SOURCES[task]))
    limit = args.train_limit if task == "ner" else args.cls_train_limit
    parts = {
        "train": splits.train[:limit],
        "dev": splits.dev[: args.eval_limit],
        "test": splits.test[: args.eval_limit],
    }
    files = {}
    for name, rows in parts.items():
        if task == "ner":
            path = work / "data" / f"{task}-{name}.conll"
            text = "\n\n".join(
                "\n".join(f"{t}\t{g}" for t, g in zip(ex.tokens, ex.tags, strict=True))
                for ex in rows
                if isinstance(ex, TokenExample)
            )
        else:
            path = work / "data" / f"{task}-{name}.jsonl"
            text = "\n".join(
                json.dumps({"text": ex.text, "label": ex.labels[0]}, ensure_ascii=False)
                for ex in rows
                if isinstance(ex, TextExample)
            )
        atomic_write_text(path, text + "\n")  # runs sharing --work may rewrite it meanwhile
        files[name] = str(path)
    return files


def extended_backbone(args: argparse.Namespace, work: Path) -> tuple[Path, dict[str, Any]]:
    """Variant b's backbone: built once from both training splits, reused afterwards."""
    from cotune.data.texts import load_texts
    from cotune.models.card import write_backbone_card
    from cotune.models.catalog import resolve_backbone
    from cotune.models.vocab import extend_backbone, read_lineage

    out = work / "minilm-l6-zh-extended"
    if not (out / "config.json").exists():
        text = load_texts(list(SOURCES.values()))
        extend_backbone(
            resolve_backbone("minilm-l6"),
            text.texts,
            out,
            base_name="minilm-l6",
            min_freq=args.min_freq,
            noise=args.noise,
            sources=text.sources,
            overwrite=True,
        )
        write_backbone_card(out)
    step = read_lineage(out)[0]
    return out, {k: v for k, v in step.items() if k not in ("added", "sources")}


def pretrained_backbone(args: argparse.Namespace, work: Path, extended: Path) -> Path:
    """Variant c's backbone: `cotune pretrain` on the Chinese text, resumed if interrupted."""
    from cotune.config.pretrain import load_pretrain_config
    from cotune.recipes.pretrain import pretrain

    overrides: dict[str, Any] = {
        "model.backbone": str(extended),
        "model.extend_vocab": None,  # already extended (the same backbone as variant b)
        "output_dir": str(work),
        "name": "minilm-l6-zh-pretrained",
        "train.threads": args.threads,
        "train.device": args.device,
        "tracking": "none",
        "budget_minutes": None if args.pretrain_steps else args.pretrain_minutes,
    }
    if args.pretrain_steps:
        overrides["train.max_steps"] = args.pretrain_steps
    cfg = load_pretrain_config(ROOT / "configs" / "pretrain" / "pretrain-zh.yaml", overrides)
    out = work / cfg.run_name()
    if (out / "model.safetensors").exists():
        return out
    return pretrain(cfg, resume=(out / "checkpoints").is_dir(), progress=args.progress)


def finetune_row(
    task: str, variant: str, backbone: Path | str, files: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from cotune.config import load_config
    from cotune.data.load import read_labelled
    from cotune.data.stats import unk_rate
    from cotune.models.catalog import resolve_backbone
    from cotune.recipes.finetune import finetune

    overrides = {
        "data.source": None,
        "data.train": files["train"],
        "data.dev": files["dev"],
        "data.test": files["test"],
        "model.backbone": str(backbone),
        "train.epochs": args.epochs,
        "train.threads": args.threads,
        "train.device": args.device,
        "train.seed": args.seed,
        "output_dir": str(Path(args.work) / "runs"),
        "name": f"{task}-{variant}",
        "tracking": "none",
    }
    cfg = load_config(CONFIGS[task], overrides)
    t0 = time.perf_counter()
    out = finetune(cfg, overwrite=True, progress=args.progress)
    wall = time.perf_counter() - t0
    m = json.loads((out / "metrics.json").read_text())
    tok = AutoTokenizer.from_pretrained(resolve_backbone(str(backbone)))
    test = read_labelled(Path(files["test"]), cfg.data)
    tr = m["training"]
    key = METRIC[task]
    return {
        "task": task,
        "variant": variant,
        "backbone": str(backbone),
        "dev": m["dev"][key],
        "test": m["test"][key],
        "test_unk_rate": unk_rate(test, tok),
        "train_examples": tr["train_examples"],
        "epochs": tr["epochs"],
        "train_seconds": tr["train_seconds"],
        "wall_seconds": round(wall, 1),
        "words_per_s": tr["words_per_s"],
    }


def row_settings(args: argparse.Namespace, variant: str) -> dict[str, Any]:
    """What a row's numbers depend on: a finished row is reused only under the same ones."""
    keys = ["train_limit", "cls_train_limit", "eval_limit", "epochs", "seed", "device"]
    if variant != "a-shipped":
        keys += ["min_freq", "noise"]
    if variant == "c-pretrained":
        keys += ["pretrain_minutes", "pretrain_steps"]
    return {k: getattr(args, k) for k in keys}


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = [
        "| task | variant | dev | test | test unk rate | train examples | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows.values(), key=lambda r: (r["task"], r["variant"])):
        lines.append(
            f"| {SOURCES[r['task']]} ({METRIC[r['task']]}) | {r['variant']} | {r['dev']:.4f} "
            f"| {r['test']:.4f} | {r['test_unk_rate']:.2%} | {r['train_examples']} "
            f"| {r['train_seconds']:.0f} |"
        )
    pre = result.get("pretraining")
    if pre:
        lines += [
            "",
            f"Pre-training (variant c): {pre['steps']} steps, {pre['train_seconds'] / 60:.1f} min "
            f"of training; held-out masked-LM loss {pre['before']['mlm_loss']:.3f} -> "
            f"{pre['after']['mlm_loss']:.3f}, accuracy {pre['before']['mlm_accuracy']:.3f} -> "
            f"{pre['after']['mlm_accuracy']:.3f}.",
        ]
    ext = result.get("extension")
    if ext:
        lines += [
            f"Extension: {ext['new_vocab_size'] - ext['old_vocab_size']} characters added; "
            f"unknown-token rate of the pre-training text {ext['unk_rate_before']:.2%} -> "
            f"{ext['unk_rate_after']:.2%}.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", default="ner,cls")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--train-limit", type=int, default=3000, help="NER training sentences")
    ap.add_argument("--cls-train-limit", type=int, default=2000, help="training reviews")
    ap.add_argument("--eval-limit", type=int, default=1000, help="dev and test examples each")
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--pretrain-minutes", type=float, default=20, help="training time budget")
    ap.add_argument("--pretrain-steps", type=int, default=0, help="fixed steps instead (GPU)")
    ap.add_argument("--min-freq", type=int, default=2)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--redo", action="store_true", help="re-run rows already in the JSON")
    ap.add_argument("--work", default=str(ROOT / "runs" / "bench-domain-zh"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "domain_zh.json")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # load reports of every fine-tune drown the table
    hf_logging.disable_progress_bar()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"rows": {}}
    if args.out.exists() and not args.redo:
        result = json.loads(args.out.read_text(encoding="utf-8"))
    result.update(
        {
            "command": "python " + " ".join(sys.argv),
            "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        }
    )

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, args.out)
        args.out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")

    variants = args.variants.split(",")
    backbones: dict[str, Path | str] = {"a-shipped": "minilm-l6"}
    if {"b-extended", "c-pretrained"} & set(variants):
        extended, result["extension"] = extended_backbone(args, work)
        backbones["b-extended"] = extended
    if "c-pretrained" in variants:
        t0 = time.perf_counter()
        pretrained = pretrained_backbone(args, work, extended)
        metrics = json.loads((pretrained / "metrics.json").read_text())
        result["pretraining"] = {
            **metrics["training"],
            "before": metrics["before"],
            "after": metrics["after"],
            "budget": json.loads((pretrained / "budget.json").read_text())
            if (pretrained / "budget.json").exists()
            else None,
            "wall_seconds_this_call": round(time.perf_counter() - t0, 1),
        }
        backbones["c-pretrained"] = pretrained
        save()
    for task in args.tasks.split(","):
        files = write_split_files(task, args, work)
        for variant in variants:
            key = f"{task}/{variant}"
            if result["rows"].get(key, {}).get("settings") == row_settings(args, variant):
                print(f"[{key}] done already, skipped", flush=True)
                continue
            row = finetune_row(task, variant, backbones[variant], files, args)
            row["settings"] = row_settings(args, variant)
            result["rows"][key] = row
            print(
                f"[{key}] dev {row['dev']:.4f} test {row['test']:.4f} "
                f"unk {row['test_unk_rate']:.2%} ({row['train_seconds']:.0f}s train)",
                flush=True,
            )
            save()
    save()
    print(markdown(result))


if __name__ == "__main__":
    main()
