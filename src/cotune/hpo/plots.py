"""Study plots as PNG: optimisation history and parameter importance."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import optuna


def write_plots(study: optuna.Study, folder: Path, metric: str = "objective") -> dict[str, str]:
    """{plot name: PNG path, or why it was skipped}. Importance needs two finished trials."""
    from optuna.visualization import matplotlib as ovm

    out: dict[str, str] = {}
    plots: dict[str, Callable[[optuna.Study], Any]] = {
        "optimization_history": ovm.plot_optimization_history,
        "param_importances": ovm.plot_param_importances,
    }
    for name, plot in plots.items():
        path = folder / f"{name}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # optuna marks these plots experimental
                ax = plot(study)
            if name == "optimization_history":
                ax.set_ylabel(f"dev {metric}")
            fig = ax.figure
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            fig.savefig(path, dpi=110)
            plt.close(fig)
            out[name] = str(path)
        except (ValueError, RuntimeError, ZeroDivisionError) as e:
            out[name] = f"skipped: {e}"
            plt.close("all")
    return out
