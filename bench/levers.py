"""Faster-loop levers (issue 28): what each one buys in training words/s on WNUT-16, MiniLM-L6.

Every variant is cotune's shipped recipe (configs/wnut16-ner.yaml) for --steps optimizer steps,
each in its own fresh process, one after the other in this one invocation, so the ratios compare
like with like on the same machine and minute:

* ``for-loop AdamW``       train.adamw=for-loop: torch's own choice on the CPU (cotune before)
* ``fused AdamW``          train.adamw=fused (what `auto` now takes)
* ``+ frozen word emb.``   fused + train.freeze_word_embeddings=true
* ``eager attention``      fused, with transformers' eager attention instead of SDPA (already
                           the default): patched in the child process, for this measurement only

A quick AdamW micro-benchmark (one step over MiniLM-L6's 22.7 M weights) and the padding share
of the length-grouped batches (what sequence packing could save at most) come with it.

    .venv/bin/python bench/levers.py                 # about 25 min on 2 cores shared with 7 jobs
    .venv/bin/python bench/levers.py --steps 3       # smoke
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CONFIG = ROOT / "configs" / "wnut16-ner.yaml"

VARIANTS: dict[str, dict[str, Any]] = {
    "for-loop AdamW": {"train.adamw": "for-loop"},
    "fused AdamW": {"train.adamw": "fused"},
    "fused + frozen word embeddings": {
        "train.adamw": "fused",
        "train.freeze_word_embeddings": True,
    },
    "fused, eager attention": {"train.adamw": "fused", "_attention": "eager"},
}


def _child(overrides: dict[str, Any], threads: int) -> dict[str, Any]:
    import torch

    import cotune.recipes.finetune as recipe
    from cotune.config import load_config

    torch.set_num_threads(threads)
    attention = overrides.pop("_attention", None)
    if attention:
        real_fit = recipe.fit

        def fit(model: Any, *args: Any, **kwargs: Any) -> Any:
            model.set_attn_implementation(attention)
            return real_fit(model, *args, **kwargs)

        recipe.fit = fit  # type: ignore[assignment]
    cfg = load_config(CONFIG, overrides)
    # the variants are compared on training speed: no test evaluation
    out = recipe.finetune(cfg, overwrite=True, progress=False, evaluate_test=False)
    m = json.loads((out / "metrics.json").read_text())
    tr = m["training"]
    return {
        "words_per_s": tr["words_per_s"],
        "train_seconds": tr["train_seconds"],
        "steps": tr["steps"],
        "trainable_pct": tr["trainable_pct"],
        "dev_f1": m["dev"]["f1"],
    }


def _adamw_micro(threads: int) -> dict[str, float]:
    import torch
    from transformers import AutoModel

    from cotune.models.catalog import resolve_backbone

    torch.set_num_threads(threads)
    model = AutoModel.from_pretrained(resolve_backbone("minilm-l6"))
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
        t0 = time.perf_counter()
        for _ in range(5):
            opt.step()
        out[name] = round((time.perf_counter() - t0) / 5 * 1000, 1)
    return out


def _padding_share(batch_size: int) -> dict[str, float]:
    """Real vs padded tokens of one epoch's length-grouped (and shuffled) batches."""
    from transformers import AutoTokenizer

    from cotune.config import load_config
    from cotune.data import load_splits
    from cotune.models.catalog import resolve_backbone
    from cotune.tasks import build_task
    from cotune.training.batching import epoch_batches

    cfg = load_config(CONFIG, {})
    splits, _ = load_splits(cfg.data)
    tok = AutoTokenizer.from_pretrained(resolve_backbone(cfg.model.backbone))
    task = build_task(cfg.task, splits.labels, tok, cfg.model)
    lengths = [len(f) for f in task.encode(splits.train)]
    out = {}
    for grouped in (True, False):
        batches = epoch_batches(lengths, batch_size, seed=42, epoch=0, group_by_length=grouped)
        real = sum(lengths[i] for b in batches for i in b)
        padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
        out["grouped" if grouped else "shuffled"] = round(1 - real / padded, 4)
    return out


def _spawn(fn: Any, *args: Any) -> Any:
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "levers.json")
    args = ap.parse_args()
    from machine import machine  # type: ignore[import-not-found]

    rows = []
    for name, overrides in VARIANTS.items():
        run = {
            **overrides,
            "output_dir": "/tmp/cotune-levers",
            "name": "levers",
            "train.max_steps": args.steps,
            "train.threads": args.threads,
        }
        res = {"variant": name, **_spawn(_child, run, args.threads)}
        rows.append(res)
        print(f"{name}: {res['words_per_s']:.0f} words/s ({res['train_seconds']:.0f}s)", flush=True)
    base = rows[0]["words_per_s"]
    for r in rows:
        r["speedup_vs_for_loop"] = round(r["words_per_s"] / base, 3)
    result = {
        "machine": machine(),
        "steps": args.steps,
        "variants": rows,
        "adamw_step_ms": _spawn(_adamw_micro, args.threads),
        "padding_share": _padding_share(16),
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
