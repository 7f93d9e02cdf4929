"""Explanations: which words drove a prediction (local), what drives each label or entity type
across a data set (global), and how faithful an attribution method is (ERASER metrics)."""

from cotune.explain.local import Explainer, TargetExplanation, TextExplanation, WordScore
from cotune.explain.methods import METHODS, Options
from cotune.explain.model import load_explainable

__all__ = [
    "METHODS",
    "Explainer",
    "Options",
    "TargetExplanation",
    "TextExplanation",
    "WordScore",
    "load_explainable",
]
