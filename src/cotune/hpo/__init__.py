"""Hyper-parameter search with Optuna over `finetune` runs (`cotune tune`)."""

from cotune.hpo.study import StudyResult, tune

__all__ = ["StudyResult", "tune"]
