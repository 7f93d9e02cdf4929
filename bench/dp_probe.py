"""One DP-SGD run on the DP bench's rt-polarity split, with settings the bench does not vary.

For diagnosing a DP row (bench/dp_rt_polarity.py): is it the noise, the learning rate, or the
number of trained weights? Same split, schedule and clipping as the bench's row `ROW`; then the
overrides given. Prints one JSON line (also appended to --out) with test/dev accuracy, the
privacy summary and, per logged step, the signal-to-noise ratio of the noisy gradient.

    python bench/dp_probe.py lora-eps8 --lr 1e-3                            # lr alone
    python bench/dp_probe.py lora-eps8 --lr 5e-3 --method '{"r": 2, "alpha": 4,
        "target_modules": ["query", "value"]}'                                # fewer weights
    python bench/dp_probe.py full-eps8 --lr 1e-2 --method '{"name": "freeze",
        "all_but_head": true}'                                                # DP linear probe
    python bench/dp_probe.py lora-eps8 --noise-multiplier 1e-6 --no-epsilon  # clipping only
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import dp_rt_polarity as bench


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
        epilog="Any other option is the bench's (--epochs, --expected-batch, --clip, --work...).",
    )
    p.add_argument("row", help=f"the bench row to start from, one of {bench.ALL_ROWS}")
    p.add_argument("--lr", type=float, default=None, help="default: the bench row's")
    p.add_argument("--noise-multiplier", type=float, default=None, help="fix sigma")
    p.add_argument("--no-epsilon", action="store_true", help="no budget (with fixed sigma)")
    p.add_argument(
        "--method", default=None, help="method options as JSON, merged into the row's ('name' too)"
    )
    p.add_argument("--out", type=Path, default=bench.RESULTS / "dp_probes.jsonl")
    a, rest = p.parse_known_args()
    args = bench.parser().parse_args(rest)  # the bench's own settings and defaults
    os.environ.setdefault("COTUNE_TRACKING", "none")
    from cotune.config.schema import RunConfig
    from cotune.recipes.finetune import finetune

    files = bench.split_files(args.work, args.train_limit)
    raw: dict[str, Any] = bench.row_config(a.row, files, args).model_dump(mode="json")
    if a.lr is not None:
        raw["train"]["lr"] = a.lr
    dp = raw["privacy"]["dp"]
    if a.noise_multiplier is not None:
        dp["noise_multiplier"] = a.noise_multiplier
    if a.no_epsilon:
        dp["epsilon"] = None
    if a.method:
        raw["method"].update(json.loads(a.method))
    raw["name"] = "probe"
    cfg = RunConfig.model_validate(raw)
    t0 = time.perf_counter()
    out = finetune(cfg, overwrite=True, progress=False)
    m = json.loads((out / "metrics.json").read_text())
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    record = {
        "argv": sys.argv[1:],
        "method": raw["method"],
        "lr": cfg.train.lr,
        "epochs": args.epochs,
        "test_accuracy": m["test"]["accuracy"],
        "dev_accuracy": m["dev"]["accuracy"],
        "privacy": m["training"].get("privacy"),
        "snr": [(h["step"], h.get("dp_snr")) for h in history if h.get("type") == "train"],
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
