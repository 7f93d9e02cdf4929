"""`merge`: fold an adapter artifact into a plain Hugging Face model folder.

The merged folder loads with `AutoModelFor*.from_pretrained` alone (no peft, no cotune), and with
`load_artifact`. Before anything is written, the merged model is checked against the adapter on
a probe batch (principle 6: check against the reference); a method that cannot be folded exactly
(prefix tuning, a nonlinear bottleneck adapter) refuses and says why.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cotune.artifact.card import model_card
from cotune.artifact.load import load_artifact
from cotune.errors import ArtifactError
from cotune.files import staged_folder
from cotune.methods import get_method

TOLERANCE = 1e-4  # max |logit difference| allowed between merged and adapter model
PROBE_TEXTS = [
    "cotune checks the merged model on this probe",
    "a second , longer sentence with a few more words to check padding as well",
]
_COPIED = ("metrics.json", "history.jsonl", "training_curve.png", "confusion_test.png")


@dataclass(frozen=True)
class MergeResult:
    folder: Path
    method: str
    max_abs_diff: float  # merged vs adapter logits on the probe batch


def _logits(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        out: torch.Tensor = model(**batch).logits.float()
    return out


def merge_artifact(
    folder: str | Path, output: str | Path | None = None, *, overwrite: bool = False
) -> MergeResult:
    """Write the merged model of the artifact at `folder` to `output` (default FOLDER-merged)."""
    folder = Path(folder)
    out = Path(output) if output is not None else folder.with_name(folder.name + "-merged")
    if out.resolve() == folder.resolve():
        raise ArtifactError("the merged model would overwrite its own adapter", fix="pick --output")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ArtifactError(
            f"{out} already exists", fix="pass --overwrite, or choose another --output"
        )
    predictor = load_artifact(folder)
    meta = predictor.meta
    if meta.method.get("merged"):
        raise ArtifactError(f"{folder} is already a merged model", fix="use it as it is")
    method = get_method(str(meta.method.get("name", "full")))
    options = method.parse(meta.method_options())
    probe = dict(predictor.tokenizer(PROBE_TEXTS, padding=True, return_tensors="pt"))
    before = _logits(predictor.model, probe)
    merged = method.merged(predictor.model, options)  # refuses (ArtifactError) where it must
    merged.eval()
    diff = float((before - _logits(merged, probe)).abs().max())
    if diff > TOLERANCE:
        raise ArtifactError(
            f"the merged {method.name} model differs from the adapter by {diff:.2e} "
            f"(> {TOLERANCE}) on the probe batch; nothing was written",
            fix="report this; ship the adapter artifact meanwhile",
        )
    _write(folder, out, merged, predictor.tokenizer, meta, diff)
    return MergeResult(out, method.name, diff)


def _write(src: Path, out: Path, model: Any, tokenizer: Any, meta: Any, diff: float) -> None:
    """Stage the folder next to `out`, then swap it in, so a failure leaves nothing half-written."""
    with staged_folder(out) as stage:
        model.save_pretrained(stage, safe_serialization=True)
        tokenizer.save_pretrained(stage)
        merged_meta = dataclasses.replace(
            meta,
            method={**meta.method, "merged": True},
            extra={**meta.extra, "merge": {"from": str(src), "max_abs_diff": diff}},
        )
        merged_meta.write(stage)
        for name in _COPIED:
            if (src / name).exists():
                shutil.copy2(src / name, stage / name)
        metrics_path = src / "metrics.json"
        metrics = (
            json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.exists() else {}
        )
        (stage / "README.md").write_text(model_card(merged_meta, metrics), encoding="utf-8")
