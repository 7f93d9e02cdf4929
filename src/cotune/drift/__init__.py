"""Drift: is what arrives still like what the model was trained on? (docs/continual.md)"""

from cotune.drift.inputs import Sample, from_examples, from_texts, load_sample
from cotune.drift.report import DriftOptions, DriftReport, detect_drift

__all__ = [
    "DriftOptions",
    "DriftReport",
    "Sample",
    "detect_drift",
    "from_examples",
    "from_texts",
    "load_sample",
]
