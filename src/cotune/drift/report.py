"""`detect_drift`: compare what a model sees in a current sample with a reference sample.

Checks (each a `Check`: test, p-value, effect size, practical threshold):

- embeddings: MMD^2 with a Gaussian kernel, permutation p-value; effect = the AUC of a
  cross-validated classifier telling current from reference embeddings (a classifier two-sample
  test). 0.5 means indistinguishable, whatever the sample size, so a large sample of the same
  distribution stays below the threshold however small its p-value;
- predictions: the model's predicted classes (chi-square, effect = total variation distance);
- confidence: the model's top probability (Kolmogorov-Smirnov D);
- labels: the gold classes, where both samples have them (chi-square, TVD);
- unk / oov: the [UNK] and out-of-vocabulary rates (Mann-Whitney; effect = the rise).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cotune.drift.features import Observed, observe
from cotune.drift.inputs import Sample
from cotune.drift.stats import (
    Check,
    classifier_auc,
    distribution_shift,
    ks_shift,
    mmd_test,
    rate_shift,
)
from cotune.errors import DataError
from cotune.files import atomic_write_text


class DriftOptions(BaseModel):
    """Significance level, practical thresholds and sample sizes of `cotune drift`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    alpha: float = Field(0.01, gt=0, lt=1, description="Significance level of every test.")
    min_auc: float = Field(
        0.6,
        gt=0.5,
        le=1,
        description="Embedding drift needs a classifier two-sample AUC at least this high.",
    )
    min_tvd: float = Field(
        0.1, gt=0, le=1, description="Predicted/gold class shift: least total variation distance."
    )
    min_ks: float = Field(0.1, gt=0, le=1, description="Confidence shift: least KS distance D.")
    min_unk: float = Field(0.01, gt=0, le=1, description="Least rise of the [UNK] rate.")
    min_oov: float = Field(0.05, gt=0, le=1, description="Least rise of the OOV word rate.")
    min_samples: int = Field(
        30, ge=10, description="Refuse samples smaller than this (tests need it)."
    )
    max_samples: int = Field(
        1000, ge=10, description="Compare at most this many texts a side (seeded sample)."
    )
    permutations: int = Field(500, ge=100, description="Permutations of the MMD test.")
    seed: int = Field(0, description="Seed of sampling, permutations and folds.")
    batch_size: int = Field(32, ge=1, description="Texts per forward pass.")


@dataclass
class DriftReport:
    model: str
    reference: dict[str, Any]
    current: dict[str, Any]
    checks: list[Check]
    options: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    projection: dict[str, Any] = field(default_factory=dict)  # 2-D PCA points, for the plot
    confidence: dict[str, list[float]] = field(default_factory=dict)

    @property
    def drift(self) -> bool:
        return any(c.flagged for c in self.checks)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift": self.drift,
            "flagged": [c.name for c in self.checks if c.flagged],
            "model": self.model,
            "reference": self.reference,
            "current": self.current,
            "checks": {c.name: c.to_dict() for c in self.checks},
            "options": self.options,
            "notes": self.notes,
        }

    def write(self, json_path: Path, png_path: Path | None = None) -> None:
        """JSON (and the PNG), each written to a temp file and renamed into place."""
        json_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_path, json.dumps(self.to_dict(), indent=2))
        if png_path is not None:
            from cotune.drift.plot import drift_figure

            drift_figure(self, png_path)


def check_samples(
    reference: Sample, current: Sample, task: str, labels: list[str], opts: DriftOptions
) -> list[str]:
    """Refuse what cannot be compared; return notes about what can, with caveats."""
    for s in (reference, current):
        if len(s) < opts.min_samples:
            raise DataError(
                f"{len(s)} texts, fewer than the {opts.min_samples} the tests need",
                where=s.name,
                fix=f"give at least {opts.min_samples} texts (or lower --min-samples, at least 10)",
            )
    if "plain" not in (reference.kind, current.kind) and reference.kind != current.kind:
        raise DataError(
            f"the reference holds {reference.kind} rows and the current set {current.kind} rows: "
            "they belong to different tasks",
            where=f"{reference.name} vs {current.name}",
            fix="compare two sets of the same task (or unlabelled texts)",
        )
    want = "tokens" if task == "token-classification" else "text"
    for s in (reference, current):
        if s.kind not in ("plain", want):
            raise DataError(
                f"{s.kind} rows, but the model is a {task} model",
                where=s.name,
                fix=f"give {want} rows, or plain texts (one a line)",
            )
    notes = []
    known = {lab[2:] if lab[:2] in ("B-", "I-") else lab for lab in labels}
    for s in (reference, current):
        unknown = sorted({c for row in s.classes or [] for c in row} - known)
        if unknown:
            notes.append(
                f"{s.name}: classes the model cannot output: {unknown} (its head would have to "
                "grow: cotune train --from MODEL --continual.grow_head true)"
            )
    return notes


def _subsample(s: Sample, limit: int, seed: int) -> Sample:
    if len(s) <= limit:
        return s
    idx = sorted(random.Random(seed).sample(range(len(s)), limit))
    return Sample(
        s.name,
        [s.texts[i] for i in idx],
        s.kind,
        None if s.classes is None else [s.classes[i] for i in idx],
    )


def detect_drift(
    predictor: Any,
    reference: Sample,
    current: Sample,
    options: DriftOptions | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> DriftReport:
    """Compare `current` with `reference` through the eyes of a loaded artifact
    (`cotune.artifact.load_artifact`)."""
    opts = options or DriftOptions()
    meta = predictor.meta
    labels = list(meta.labels)
    notes = check_samples(reference, current, meta.task, labels, opts)
    sizes = {"reference": len(reference), "current": len(current)}
    reference = _subsample(reference, opts.max_samples, opts.seed)
    current = _subsample(current, opts.max_samples, opts.seed + 1)
    max_length = int(meta.model_config.get("max_length", 128))
    multi = bool(meta.model_config.get("multi_label"))

    def seen(s: Sample) -> Observed:
        return observe(
            predictor.model,
            predictor.tokenizer,
            meta.task,
            labels,
            s.texts,
            max_length=max_length,
            multi_label=multi,
            batch_size=opts.batch_size,
            progress=progress,
        )

    ref, cur = seen(reference), seen(current)
    for s, o in ((reference, ref), (current, cur)):
        if o.truncated:
            notes.append(
                f"{s.name}: {o.truncated} of {len(s)} texts are longer than the model's "
                f"max_length {max_length}; only their start is compared"
            )
    checks = run_checks(ref, cur, reference.classes, current.classes, opts)
    if meta.task == "token-classification" and any(c.name == "predictions" for c in checks):
        notes.append(
            "NER class counts are over words, which are not independent within a sentence: "
            "read the chi-square p-values of predictions/labels as optimistic; the TVD is exact"
        )
    return DriftReport(
        model=str(predictor.folder),
        reference={**reference.to_dict(), "n_total": sizes["reference"]},
        current={**current.to_dict(), "n_total": sizes["current"]},
        checks=checks,
        options=opts.model_dump(),
        notes=notes,
        projection=_projection(ref.embeddings, cur.embeddings),
        confidence={"reference": ref.confidence.tolist(), "current": cur.confidence.tolist()},
    )


def run_checks(
    ref: Observed,
    cur: Observed,
    ref_classes: list[list[str]] | None,
    cur_classes: list[list[str]] | None,
    opts: DriftOptions,
) -> list[Check]:
    """Every check on features already observed (a caller comparing many resamples of one
    corpus observes it once and slices it: `Observed.take`)."""
    checks = [_embedding_check(ref, cur, opts)]
    chi2, p, tvd, detail = distribution_shift(ref.predicted, cur.predicted)
    checks.append(
        Check("predictions", "chi2", chi2, p, tvd, "tvd", opts.min_tvd, opts.alpha, detail)
    )
    d, p = ks_shift(ref.confidence, cur.confidence)
    checks.append(
        Check(
            "confidence",
            "ks",
            d,
            p,
            d,
            "ks_d",
            opts.min_ks,
            opts.alpha,
            {
                "reference_mean": float(ref.confidence.mean()),
                "current_mean": float(cur.confidence.mean()),
            },
        )
    )
    if ref_classes is not None and cur_classes is not None:
        chi2, p, tvd, detail = distribution_shift(ref_classes, cur_classes)
        checks.append(
            Check("labels", "chi2", chi2, p, tvd, "tvd", opts.min_tvd, opts.alpha, detail)
        )
    for name, r, c, thr in (
        ("unk", ref.unk, cur.unk, opts.min_unk),
        ("oov", ref.oov, cur.oov, opts.min_oov),
    ):
        diff, p = rate_shift(r, c)
        detail = {"reference_rate": float(r.mean()), "current_rate": float(c.mean())}
        checks.append(Check(name, "mann-whitney", diff, p, diff, "rise", thr, opts.alpha, detail))
    return checks


def _embedding_check(ref: Observed, cur: Observed, opts: DriftOptions) -> Check:
    mmd2, p, sigma2 = mmd_test(
        ref.embeddings, cur.embeddings, permutations=opts.permutations, seed=opts.seed
    )
    auc = classifier_auc(ref.embeddings, cur.embeddings, seed=opts.seed)
    return Check(
        "embeddings",
        "mmd-permutation",
        mmd2,
        p,
        auc,
        "classifier_auc",
        opts.min_auc,
        opts.alpha,
        {"mmd2": mmd2, "bandwidth2": sigma2, "permutations": opts.permutations},
    )


def _projection(ref: np.ndarray, cur: np.ndarray) -> dict[str, Any]:
    """First two principal components of the pooled embeddings."""
    z = np.concatenate([ref, cur]).astype(np.float64)
    z -= z.mean(0)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    xy = z @ vt[:2].T
    return {"reference": xy[: len(ref)].tolist(), "current": xy[len(ref) :].tolist()}
