"""The drift report as one PNG: where the embeddings lie, how confident the model is, what it
predicts, and each check's effect against its threshold."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def drift_figure(report: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    ref_name, cur_name = "reference", "current"
    proj = report.projection
    ax = axes[0][0]
    for key, colour in ((ref_name, "tab:blue"), (cur_name, "tab:orange")):
        pts = np.array(proj.get(key) or np.zeros((0, 2)))
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=6, alpha=0.5, c=colour, label=key)
    emb = report.check("embeddings")
    ax.set_title(f"embeddings (PCA): AUC {emb.effect:.3f}, MMD p {emb.p_value:.3g}")
    ax.legend()
    ax = axes[0][1]
    bins = np.linspace(0, 1, 21)
    for key, colour in ((ref_name, "tab:blue"), (cur_name, "tab:orange")):
        ax.hist(
            report.confidence.get(key, []),
            bins=bins,
            alpha=0.5,
            color=colour,
            label=key,
            density=True,
        )
    ax.set_title(f"confidence: KS D {report.check('confidence').effect:.3f}")
    ax.legend()
    ax = axes[1][0]
    shares = report.check("predictions").detail
    classes = list(shares["reference"])[:20]
    x = np.arange(len(classes))
    ax.bar(x - 0.2, [shares["reference"][c] for c in classes], 0.4, label=ref_name)
    ax.bar(x + 0.2, [shares["current"][c] for c in classes], 0.4, label=cur_name)
    ax.set_xticks(x, classes, rotation=45, ha="right")
    ax.set_title(f"predicted classes: TVD {report.check('predictions').effect:.3f}")
    ax.legend()
    ax = axes[1][1]
    names = [c.name for c in report.checks]
    ratio = [c.effect / c.threshold for c in report.checks]
    colours = ["tab:red" if c.flagged else "tab:green" for c in report.checks]
    ax.barh(names, ratio, color=colours)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_title("effect / practical threshold (red: flagged)")
    fig.suptitle(f"drift: {'YES' if report.drift else 'no'}  ({report.model})", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
