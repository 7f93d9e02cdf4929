"""Tasks: how examples become model inputs, how logits become words/spans/labels, and metrics."""

from cotune.tasks.base import Feature, Task, build_task
from cotune.tasks.sequence_classification import SequenceClassification
from cotune.tasks.token_classification import TokenClassification

__all__ = ["Feature", "SequenceClassification", "Task", "TokenClassification", "build_task"]
