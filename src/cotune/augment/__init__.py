"""Label-preserving data augmentation of a training split (issue 26, docs/augment.md).

NER: the four operations of Dai & Adel (COLING 2020); classification: EDA (Wei & Zou 2019).
Each operation is one module registered in `registry.OPERATIONS`; `augment_split` applies the
ones `data.augment` names, drawing only from the training split.
"""

from cotune.augment import (  # noqa: F401  (each import registers its operation)
    delete,
    eda_synonym,
    insert,
    label_wise,
    mention,
    shuffle,
    swap,
    synonym,
)
from cotune.augment.apply import augment_split, operations_for
from cotune.augment.registry import OPERATIONS, AugmentContext, Operation
from cotune.augment.splits import load_augmented_splits

__all__ = [
    "OPERATIONS",
    "AugmentContext",
    "Operation",
    "augment_split",
    "load_augmented_splits",
    "operations_for",
]
