"""Training curves and confusion matrices as PNG, written next to the run's metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def training_curve(history: Sequence[dict[str, Any]], metric: str, path: Path) -> None:
    train = [h for h in history if h["type"] == "train"]
    evals = [h for h in history if h["type"] == "eval"]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot([h["epoch"] for h in train], [h["loss"] for h in train], label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if evals:
        ax2 = ax.twinx()
        key = f"dev_{metric}"
        ax2.plot(
            [h["epoch"] for h in evals],
            [h[key] for h in evals],
            "o-",
            color="C1",
            label=f"dev {metric}",
        )
        ax2.set_ylabel(f"dev {metric}")
        ax2.legend(loc="lower right")
    if train:
        ax.legend(loc="upper right")
    ax.set_title("training curve")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(labels), 1 + 0.6 * len(labels)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center")
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
