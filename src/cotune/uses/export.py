"""`cotune export`: ONNX (and int8) export of an artifact, checked twice before it is written.

1. parity: logits of the fp32 graph vs PyTorch on a fixed batch of dev sentences;
2. the quality gate (export/gate.py): every graph written is evaluated on the artifact's dev
   split and refused if it drops more than `max_drop` points below the recorded dev figure.

Graphs are built in a staging folder and moved to ARTIFACT/onnx/ (the layout export/runtime.py
reads) only once both checks pass, so a refused export leaves the artifact as it was. The result
is recorded in cotune.json (`extra.export`), metrics.json (`export`) and the model card.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cotune.artifact import load_artifact
from cotune.artifact.card import model_card
from cotune.data.cache import atomic_write_text
from cotune.errors import ArtifactError
from cotune.export.gate import (
    DEFAULT_MAX_DROP,
    GateResult,
    check,
    dev_examples,
    onnx_metrics,
    reference_metric,
)
from cotune.export.onnx import export_onnx, parity, quantize_int8
from cotune.export.runtime import FP32_FILE, INT8_FILE, ONNX_DIR

PARITY_TOLERANCE = 1e-3  # max |logit difference| fp32 ONNX vs PyTorch
PARITY_EXAMPLES = 8


@dataclass
class ExportReport:
    folder: Path
    files: list[Path]
    parity_fp32: float
    parity_int8: float | None
    gates: list[GateResult] = field(default_factory=list)
    forced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [str(f.relative_to(self.folder)) for f in self.files],
            "parity_max_abs_diff": {"fp32": self.parity_fp32, "int8": self.parity_int8},
            "gate": [g.to_dict() for g in self.gates],
            "forced": self.forced,
        }


def export_artifact(
    folder: str | Path,
    *,
    fmt: Literal["onnx"] = "onnx",
    quantize: Literal["int8"] | None = None,
    max_drop: float = DEFAULT_MAX_DROP,
    force: bool = False,
    opset: int = 17,
    batch_size: int = 64,
) -> ExportReport:
    """Export, check parity and quality, then write ARTIFACT/onnx/ (see module docstring)."""
    if fmt != "onnx":
        raise ArtifactError(f"unknown export format {fmt!r}", fix="use --format onnx")
    folder = Path(folder)
    predictor = load_artifact(folder)
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.exists() else {}
    name, reference = reference_metric(predictor, metrics)
    examples = dev_examples(predictor)
    if reference is None:  # an artifact without a recorded dev figure: measure PyTorch now
        reference = float(predictor.evaluate(examples, batch_size)[name])

    stage = folder / ONNX_DIR / f".staging-{uuid.uuid4().hex[:8]}"
    stage.mkdir(parents=True)
    try:
        fp32 = export_onnx(predictor.model, predictor.tokenizer, stage / FP32_FILE, opset)
        probe = predictor.task.collate(predictor.task.encode(examples[:PARITY_EXAMPLES]))
        probe = {k: v for k, v in probe.items() if k != "labels"}
        diff32 = parity(predictor.model, fp32, probe)
        if diff32 > PARITY_TOLERANCE:
            raise ArtifactError(
                f"the fp32 ONNX graph differs from PyTorch by {diff32:.2e} in the logits "
                f"(> {PARITY_TOLERANCE}) on {PARITY_EXAMPLES} dev sentences; nothing was written",
                fix="report this with the artifact; try another --opset meanwhile",
            )
        graphs = {"fp32": fp32}
        diff8 = None
        if quantize == "int8":
            graphs["int8"] = quantize_int8(fp32, stage / INT8_FILE)
            diff8 = parity(predictor.model, graphs["int8"], probe)
        gates = [
            check(
                g,
                name,
                reference,
                float(onnx_metrics(predictor, p, examples, batch_size)[name]),
                max_drop,
            )
            for g, p in graphs.items()
        ]
        failed = [g for g in gates if not g.passed]
        if failed and not force:
            raise ArtifactError(
                "; ".join(g.message() for g in failed) + "; nothing was written",
                where=str(folder),
                fix="export without --quantize, or pass --force to write it anyway (the drop is "
                "recorded in the model card), or raise --max-drop",
            )
        written = [_move(p, folder / ONNX_DIR / p.name) for p in graphs.values()]
        if quantize is None:  # a stale int8 graph of an earlier export no longer matches
            (folder / ONNX_DIR / INT8_FILE).unlink(missing_ok=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    report = ExportReport(folder, written, diff32, diff8, gates, forced=bool(failed))
    _record(folder, predictor.meta, metrics, report)
    return report


def _move(src: Path, dst: Path) -> Path:
    os.replace(src, dst)
    return dst


def _record(folder: Path, meta: Any, metrics: dict[str, Any], report: ExportReport) -> None:
    record = report.to_dict()
    new_meta = dataclasses.replace(meta, extra={**meta.extra, "export": record})
    new_meta.write(folder)
    metrics = {**metrics, "export": record}
    atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=2))
    atomic_write_text(folder / "README.md", model_card(new_meta, metrics) + _card_section(report))


def _card_section(report: ExportReport) -> str:
    lines = ["", "## ONNX export", ""]
    for g in report.gates:
        lines.append(
            f"- {g.graph}: dev {g.metric} {g.exported:.4f} vs PyTorch {g.reference:.4f} "
            f"(drop {g.drop_points:.2f} points, allowed {g.max_drop:g})"
        )
    if report.forced:
        lines += [
            "",
            "**Warning:** this export was forced past the quality gate; it scores worse than "
            "the PyTorch model by the drop shown above.",
        ]
    return "\n".join(lines) + "\n"
