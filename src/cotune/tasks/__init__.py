"""Tasks: how examples become model inputs, how logits become words/spans/labels, and metrics."""

from transformers import PreTrainedTokenizerBase

from cotune.config.schema import ModelConfig
from cotune.tasks.base import Feature, Task
from cotune.tasks.sequence_classification import SequenceClassification
from cotune.tasks.token_classification import TokenClassification

TASKS: dict[str, type[TokenClassification] | type[SequenceClassification]] = {
    "token-classification": TokenClassification,
    "sequence-classification": SequenceClassification,
}


def build_task(
    task_name: str,
    labels: list[str],
    tokenizer: PreTrainedTokenizerBase,
    cfg: ModelConfig,
) -> Task:
    if task_name not in TASKS:
        raise ValueError(f"unknown task {task_name!r}: one of {sorted(TASKS)}")
    return TASKS[task_name](labels, tokenizer, cfg)


__all__ = [
    "TASKS",
    "Feature",
    "SequenceClassification",
    "Task",
    "TokenClassification",
    "build_task",
]
