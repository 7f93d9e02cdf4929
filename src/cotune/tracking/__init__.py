"""Experiment tracking: MLflow (SQLite by default, or any tracking URI), plain JSONL, or none.

`finetune` opens a run from `cfg.tracking`, logs metrics as the loop records them and the
artifact at the end; `cotune runs list|show|compare` reads runs back.
"""

from cotune.tracking.base import NullTracker, RunRecord, RunStopped, RunStore, Tracker
from cotune.tracking.callback import TrackingCallback
from cotune.tracking.run import TrackedRun, open_store, open_tracker, start_tracked_run
from cotune.tracking.system import system_info

__all__ = [
    "NullTracker",
    "RunRecord",
    "RunStopped",
    "RunStore",
    "TrackedRun",
    "Tracker",
    "TrackingCallback",
    "open_store",
    "open_tracker",
    "start_tracked_run",
    "system_info",
]
