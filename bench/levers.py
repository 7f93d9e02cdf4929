"""Faster-loop levers (issue 28): what each one saves per training step on WNUT-16, MiniLM-L6.

The machine this ran on was shared with other jobs, so wall-clock time measured the neighbours as
much as the code. This bench measures **CPU seconds per optimizer step** instead
(`time.process_time`, one intra-op thread). That figure is what the step costs, whoever else
runs. The variants are interleaved, round after round, so that a drift in the machine's state hits
all of them alike. Every variant trains a fresh copy of the same model on the same length-grouped
batches of the shipped recipe (configs/wnut16-ner.yaml: batch 16, lr 1e-4, head lr 1e-3):

* ``for-loop AdamW``     torch's own AdamW choice on the CPU (what cotune ran before)
* ``fused AdamW``        train.adamw=fused (what `auto` now takes)
* ``fused + frozen word embeddings``   train.freeze_word_embeddings=true
* ``fused, eager attention``   transformers' eager attention instead of SDPA (the default)

With them come an AdamW-only probe (one step over all 22.7 M weights) and the padding share of one
epoch's length-grouped batches: the most that sequence packing could save.

    .venv/bin/python bench/levers.py                       # ~15 min at nice 10, busy machine
    .venv/bin/python bench/levers.py --rounds 1 --steps 1  # smoke
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CONFIG = ROOT / "configs" / "wnut16-ner.yaml"

VARIANTS: dict[str, dict[str, Any]] = {
    "for-loop AdamW": {"adamw": "for-loop"},
    "fused AdamW": {"adamw": "fused"},
    "fused + frozen word embeddings": {"adamw": "fused", "freeze_word_embeddings": True},
    "fused, eager attention": {"adamw": "fused", "attention": "eager"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per variant and round")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "levers.json")
    args = ap.parse_args()

    import torch
    from transformers import AutoTokenizer

    from cotune.config import load_config
    from cotune.data import load_splits
    from cotune.models.catalog import resolve_backbone
    from cotune.tasks import build_task
    from cotune.tasks.base import to_device
    from cotune.training.batching import epoch_batches
    from cotune.training.loss import count_units, task_loss
    from cotune.training.optim import build_optimizer, freeze_word_embeddings
    from cotune.training.summary import feature_words
    from machine import machine  # type: ignore[import-not-found]

    torch.set_num_threads(1)  # CPU seconds of one thread: comparable whoever else runs
    cfg = load_config(CONFIG, {})
    splits, _ = load_splits(cfg.data)
    backbone = resolve_backbone(cfg.model.backbone)
    task = build_task(cfg.task, splits.labels, AutoTokenizer.from_pretrained(backbone), cfg.model)
    torch.manual_seed(cfg.train.seed)
    base = task.build_model(backbone, cfg.model)
    features = task.encode(splits.train)
    words = feature_words(features, splits.train)
    lengths = [len(f) for f in features]
    batches = epoch_batches(
        lengths, cfg.train.batch_size, seed=cfg.train.seed, epoch=0, group_by_length=True
    )

    def run(variant: dict[str, Any], offset: int) -> list[dict[str, float]]:
        model = copy.deepcopy(base).train()
        if variant.get("attention"):
            model.set_attn_implementation(variant["attention"])
        train_cfg = cfg.train.model_copy(
            update={k: v for k, v in variant.items() if k != "attention"}
        )
        if train_cfg.freeze_word_embeddings:
            freeze_word_embeddings(model)
        optimizer = build_optimizer(model, train_cfg)
        trainable = [p for p in model.parameters() if p.requires_grad]
        out = []
        for k in range(args.steps + 1):  # the first step warms allocators up: not timed
            batch = batches[(offset + k) % len(batches)]
            c0, w0 = time.process_time(), time.perf_counter()
            micro = to_device(task.collate([features[i] for i in batch]), model)
            loss = task_loss(model, micro) / max(count_units(micro), 1)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if k:
                out.append(
                    {
                        "cpu_s": time.process_time() - c0,
                        "wall_s": time.perf_counter() - w0,
                        "words": sum(words[i] for i in batch),
                    }
                )
        return out

    steps: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for r in range(args.rounds):
        for name, variant in VARIANTS.items():
            # the same batches for every variant within a round, new ones each round
            steps[name] += run(variant, offset=r * (args.steps + 1))
            last = steps[name][-args.steps :]
            print(
                f"round {r + 1} {name}: "
                f"{statistics.median(s['cpu_s'] for s in last):.2f} CPU s/step",
                flush=True,
            )
    rows = []
    for name, st in steps.items():
        cpu = sum(s["cpu_s"] for s in st)
        rows.append(
            {
                "variant": name,
                "steps": len(st),
                "cpu_s_per_step": round(cpu / len(st), 3),
                "words_per_cpu_s": round(sum(s["words"] for s in st) / cpu, 1),
                "wall_s_per_step": round(sum(s["wall_s"] for s in st) / len(st), 3),
            }
        )
    for row in rows:
        row["speedup_vs_for_loop"] = round(row["words_per_cpu_s"] / rows[0]["words_per_cpu_s"], 3)
    result = {
        "machine": machine(),
        "note": "CPU seconds of one thread per optimizer step; other jobs shared the machine",
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "variants": rows,
        "adamw_only_cpu_s": _adamw_probe(base),
        "padding_share": _padding_share(lengths, cfg.train.batch_size, cfg.train.seed),
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def _adamw_probe(base: Any) -> dict[str, float]:
    """CPU seconds of one AdamW step over every weight, per kernel (gradients random)."""
    import torch

    model = copy.deepcopy(base)
    params = list(model.parameters())
    torch.manual_seed(0)
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    out: dict[str, float] = {}
    for name, kw in (
        ("for-loop", {"foreach": False}),
        ("foreach", {"foreach": True}),
        ("fused", {"fused": True}),
    ):
        opt = torch.optim.AdamW(params, lr=1e-5, **kw)  # type: ignore[arg-type]
        opt.step()
        c0 = time.process_time()
        for _ in range(2):
            opt.step()
        out[name] = round((time.process_time() - c0) / 2, 3)
    return out


def _padding_share(lengths: list[int], batch_size: int, seed: int) -> dict[str, float]:
    """Share of padded positions in one epoch's batches, grouped by length or only shuffled."""
    from cotune.training.batching import epoch_batches

    out = {}
    for grouped in (True, False):
        batches = epoch_batches(lengths, batch_size, seed=seed, epoch=0, group_by_length=grouped)
        real = sum(lengths[i] for b in batches for i in b)
        padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
        out["grouped" if grouped else "shuffled"] = round(1 - real / padded, 4)
    return out


if __name__ == "__main__":
    main()
