"""Data-parallel bench (issue 28): 1 against N processes, through the CLI users run.

Each variant is `cotune train configs/wnut16-ner.yaml` (WNUT-16, MiniLM-L6) for --steps optimizer
steps of the same global batch (train.batch_size 16), one after the other in this invocation:

* ``cpu x1``   one process with --threads intra-op threads
* ``cpu x2``   `--nproc 2` (torchrun, gloo), each process with --threads / 2 threads

and, where a GPU is visible: ``gpu x1 fp32``, ``gpu x1 bf16`` and, with two GPUs or more,
``gpu x2 bf16`` (NCCL). Words/s count the global batch: every rank's share of every step.

    .venv/bin/python bench/ddp.py                  # about 15 min on 2 cores shared with 7 jobs
    .venv/bin/python bench/ddp.py --steps 3        # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CONFIG = ROOT / "configs" / "wnut16-ner.yaml"


def run(name: str, nproc: int, threads: int, steps: int, out: Path, **train: Any) -> dict[str, Any]:
    flags = [f"--train.{k}={v}" for k, v in train.items()]
    cmd = [
        sys.executable,
        "-m",
        "cotune",
        "train",
        str(CONFIG),
        "--quiet",
        "--overwrite",
        f"--nproc={nproc}",
        f"--output_dir={out}",
        f"--name={name}",
        f"--train.max_steps={steps}",
        f"--train.threads={threads}",
        *flags,
    ]
    env = {**os.environ, "COTUNE_TRACKING": "none", "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    m = json.loads((out / name / "metrics.json").read_text())
    tr = m["training"]
    history = [json.loads(line) for line in (out / name / "history.jsonl").read_text().splitlines()]
    return {
        "variant": name,
        "processes": nproc,
        "threads_per_process": threads,
        "words_per_s": tr["words_per_s"],
        "train_seconds": tr["train_seconds"],
        "train_words": tr["train_words"],
        "steps": tr["steps"],
        "dev_f1": m["dev"]["f1"],
        "train_loss": [h["loss"] for h in history if h["type"] == "train"],
        "wall_seconds": round(wall, 1),
        "command": " ".join(cmd[2:]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ddp.json")
    args = ap.parse_args()
    import torch

    from machine import machine  # type: ignore[import-not-found]

    work = Path("/tmp/cotune-ddp")
    rows = [
        run("cpu-x1", 1, args.threads, args.steps, work, device="cpu"),
        run("cpu-x2", 2, max(1, args.threads // 2), args.steps, work, device="cpu"),
    ]
    gpus = torch.cuda.device_count()
    if gpus:
        rows.append(run("gpu-x1-fp32", 1, 4, args.steps, work, device="cuda"))
        rows.append(run("gpu-x1-bf16", 1, 4, args.steps, work, device="cuda", precision="bf16"))
        if gpus >= 2:
            rows.append(run("gpu-x2-bf16", 2, 4, args.steps, work, device="cuda", precision="bf16"))
    for r in rows:
        print(
            f"{r['variant']}: {r['words_per_s']:.0f} words/s, {r['train_seconds']:.0f}s train, "
            f"{r['wall_seconds']:.0f}s wall, dev F1 {r['dev_f1']:.4f}",
            flush=True,
        )
    result = {
        "machine": machine(),
        "gpus": gpus,
        "steps": args.steps,
        "rows": rows,
        "cpu_x2_over_x1": round(rows[1]["words_per_s"] / rows[0]["words_per_s"], 3),
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
