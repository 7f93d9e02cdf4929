"""Tracking of a pre-training run on the same backends as fine-tuning (MLflow, JSONL, none).

The curve goes through the loop's TrackingCallback as for a fine-tune; at the end the held-out
masked-LM metrics, the text's provenance and the backbone folder (by path, its small files
copied) are logged. Kind tag `pretrain`, so `cotune runs` tells these runs from task runs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cotune.tracking.base import NullTracker, Tracker, flatten, numeric
from cotune.tracking.callback import TrackingCallback
from cotune.tracking.run import open_tracker, record_failure
from cotune.tracking.system import system_info

log = logging.getLogger(__name__)
SMALL_FILES = (
    "run_config.yaml",
    "metrics.json",
    "history.jsonl",
    "README.md",
    "training_curve.png",
    "cotune-backbone.json",
)


class PretrainRun:
    def __init__(self, cfg: Any, tracker: Tracker | None = None) -> None:
        self.cfg = cfg
        self.tracker = tracker if tracker is not None else open_tracker(cfg.tracking)
        self.callback = TrackingCallback(self.tracker)

    def start(self, out: Path, resumed: bool) -> None:
        if isinstance(self.tracker, NullTracker):
            return
        cfg = self.cfg
        dump = cfg.model_dump(mode="json")
        self.tracker.start(
            cfg.run_name(),
            tags={
                "cotune.kind": "pretrain",
                "cotune.task": "masked-lm",
                "cotune.backbone": cfg.model.backbone,
                "cotune.text": ",".join(cfg.text.sources),
                "cotune.contributors": ", ".join(cfg.tracking.contributors),
                "mlflow.source.name": "cotune",
                **({"cotune.resumed": "true"} if resumed else {}),
                **{f"sys.{k}": str(v) for k, v in system_info().items()},
                **cfg.tracking.tags,
            },
        )
        self.tracker.log_params(flatten({k: v for k, v in dump.items() if k != "tracking"}))
        if (out / "run_config.yaml").is_file():
            self.tracker.log_file(out / "run_config.yaml")

    def finish(self, out: Path) -> None:
        if isinstance(self.tracker, NullTracker):
            return
        try:
            metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
            history = [
                json.loads(line)
                for line in (out / "history.jsonl").read_text(encoding="utf-8").splitlines()
            ]
            self.callback.flush(history)
            final = {
                **numeric(metrics.get("before", {}), "before_"),
                **numeric(metrics.get("after", {}), "final_dev_"),
                **numeric(metrics.get("training", {}), "training_"),
            }
            self.tracker.log_metrics(final, step=int(metrics["training"].get("steps", 0)))
            self.tracker.set_tags({"cotune.artifact_path": str(out.resolve())})
            for name in SMALL_FILES:
                if (out / name).is_file():
                    self.tracker.log_file(out / name, "artifact")
            self.tracker.end("FINISHED")
        except Exception as e:  # the backbone is written; a tracking hiccup must not lose it
            log.warning("tracking could not finish the run (%s: %s)", type(e).__name__, e)

    def fail(self, exc: BaseException) -> None:
        record_failure(self.tracker, exc)
