"""The export quality gate: an exported graph that scores worse than its artifact is refused.

Naive quantization can collapse a model's quality (optimum issues 85, 151, 346 for NER F1) while
every shape check passes. So the graph about to be written is run through the very task code
that evaluated the PyTorch model (`OnnxTaskModel` from export/runtime.py), on the artifact's own
dev split, and compared with the dev figure the artifact recorded when it was trained. A drop of
more than `max_drop` points (F1 or accuracy x 100) is refused unless the user forces it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cotune.artifact import Predictor
from cotune.config.schema import DataConfig
from cotune.data.examples import Example, Splits
from cotune.data.load import load_splits
from cotune.errors import ArtifactError
from cotune.export.exact_int8 import Int8Kernels
from cotune.export.runtime import OnnxTaskModel


@dataclass(frozen=True)
class GateResult:
    graph: str  # "fp32" or "int8"
    metric: str
    reference: float  # the artifact's recorded dev figure (PyTorch)
    exported: float  # the exported graph's dev figure
    max_drop: float

    @property
    def drop_points(self) -> float:
        return round(100 * (self.reference - self.exported), 4)

    @property
    def passed(self) -> bool:
        return self.drop_points <= self.max_drop

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drop_points": self.drop_points, "passed": self.passed}

    def message(self) -> str:
        return (
            f"the exported {self.graph} ONNX model scores {self.metric} {self.exported:.4f} on "
            f"dev, the PyTorch artifact {self.reference:.4f}: a drop of {self.drop_points:.2f} "
            f"points (allowed: {self.max_drop:g})"
        )


def artifact_splits(predictor: Predictor) -> Splits:
    """The artifact's splits, rebuilt from its recorded data config and split seed."""
    splits, _ = load_splits(DataConfig(**predictor.meta.config["data"]))
    return splits


def dev_examples(predictor: Predictor, splits: Splits | None = None) -> list[Example]:
    """The artifact's dev split (from `splits` if given, else rebuilt)."""
    splits = artifact_splits(predictor) if splits is None else splits
    if not splits.dev:
        raise ArtifactError(
            f"{predictor.folder} was trained without a dev split: the export gate has nothing "
            "to compare on",
            fix="retrain with a dev split, or pass --force to export without the gate",
        )
    return list(splits.dev)


def reference_metric(predictor: Predictor, metrics: dict[str, Any]) -> tuple[str, float | None]:
    """The metric the artifact was selected on and its recorded dev value (None if missing)."""
    name = str(metrics.get("training", {}).get("metric") or predictor.task.default_metric())
    value = metrics.get("dev", {}).get(name)
    return name, float(value) if isinstance(value, int | float) else None


def onnx_metrics(
    predictor: Predictor,
    graph: Path,
    examples: list[Example],
    batch_size: int = 64,
    int8_kernels: Int8Kernels = "cpu",
) -> dict[str, Any]:
    """Dev metrics of an ONNX graph through the artifact's own task code (an int8 graph with
    this CPU's int8 kernels or, `int8_kernels="exact"`, exact int8 products)."""
    model = OnnxTaskModel(graph, int8_kernels=int8_kernels)
    return predictor.task.evaluate(model, examples, batch_size)


def check(
    graph: str, metric: str, reference: float, exported: float, max_drop: float
) -> GateResult:
    return GateResult(graph, metric, reference, exported, max_drop)
