"""Evaluate an artifact on its recorded split or on any labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotune.config.schema import DataConfig
from cotune.data.load import check_labels_known, load_splits, read_labelled
from cotune.errors import DataError
from cotune.export.runtime import load_predictor


def evaluate_artifact(
    folder: Path,
    data: str | None = None,
    *,
    split: str = "test",
    batch_size: int = 64,
    onnx: str | None = None,
    int8_kernels: str = "cpu",
    repair_tags: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """Metrics of the artifact's PyTorch model, or of its exported graph with `onnx` ("fp32" /
    "int8", written by `cotune export`): the same data, task code and metrics either way.
    `int8_kernels="exact"` runs the int8 graph with exact int8 products (as a VNNI CPU does);
    `repair_tags` reads an I- tag that continues no entity as its start (data.repair_tags)."""
    if split not in ("train", "dev", "test"):
        raise DataError(f"unknown split {split!r}", fix="use --split train, dev or test")
    predictor = load_predictor(folder, onnx, int8_kernels=int8_kernels).to(device)
    trained_on = DataConfig(**predictor.meta.config["data"])
    if repair_tags:
        trained_on = trained_on.model_copy(update={"repair_tags": True})
    if data is None or data == trained_on.source:
        splits, _ = load_splits(trained_on)
        examples = getattr(splits, split)
        name = f"{trained_on.source or trained_on.train}:{split}"
    elif Path(data).is_file():
        update: dict[str, Any] = {"source": data, "train": None}
        trained_file = Path(str(trained_on.train or trained_on.source or ""))
        if Path(data).suffix.lower() != trained_file.suffix.lower():
            update["format"] = "auto"  # the file's own format, not the training file's
        corpus_cfg = trained_on.model_copy(update=update)
        examples = read_labelled(Path(data), corpus_cfg)
        name = data
    else:
        cfg = DataConfig(source=data, repair_tags=trained_on.repair_tags)
        splits, _ = load_splits(cfg)
        examples = getattr(splits, split)
        name = f"{data}:{split}"
    ner = predictor.meta.task == "token-classification"
    _check_known(
        predictor.meta.labels, examples, ner, getattr(predictor.task, "multi_label", False)
    )
    metrics = predictor.evaluate(examples, batch_size)
    runtime = {"onnx": onnx} if onnx else {}
    if onnx == "int8":
        runtime["int8_kernels"] = int8_kernels
    return {"data": name, **runtime, **metrics}


def _check_known(labels: list[str], examples: list[Any], ner: bool, multi_label: bool) -> None:
    """The data is of the model's kind and holds only labels (or entity types) it can output:
    anything else would be scored as a silent miss, or crash the metrics."""
    from cotune.data.examples import Example, TextExample, TokenExample

    if not examples:
        raise DataError("nothing to evaluate: the split is empty")
    if isinstance(examples[0], TokenExample) != ner:
        kinds = ("tagged tokens", "labelled texts")
        have, want = kinds if not ner else kinds[::-1]
        raise DataError(
            f"the model is a {'token' if ner else 'sequence'}-classification model, but the "
            f"evaluation data holds {have}",
            where=examples[0].origin or None,
            fix=f"evaluate on {want}",
        )
    ref: list[Example]
    if ner:
        ref = [TokenExample([], [lab]) for lab in labels]
    else:
        ref = [TextExample("", [lab]) for lab in labels]
        for ex in examples:
            if not multi_label and len(ex.labels) != 1:
                raise DataError(
                    f"the model gives one label per text, but this row has {len(ex.labels)}: "
                    f"{ex.labels}",
                    where=ex.origin or None,
                    fix='give each row exactly one "label"',
                )
    check_labels_known(ref, examples, "the evaluation data")
