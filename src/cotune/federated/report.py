"""The ledger as people read it: a Markdown table and a PNG of contribution shares."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float):
        if abs(x) >= 1e6:
            return f"{x:.3g}"
        return f"{x:.{digits}f}"
    return str(x)


def ledger_markdown(ledger: dict[str, Any], rounds: list[dict[str, Any]] | None = None) -> str:
    t = ledger["totals"]
    why_not = _contributions_missing(ledger)
    summary = (
        f"Value: {ledger['metric']}. Base model {_fmt(ledger['base_value'])}, final "
        f"{_fmt(t['final_value'])}, gain {_fmt(t['gain_over_base'])}; Shapley values "
        f"({t['shapley_method']}, {t['coalitions_evaluated']} coalitions evaluated) sum to "
        f"{_fmt(t['shapley_sum'])}."
    )
    if why_not:
        summary = (
            f"Value: {ledger['metric']}. Base model {_fmt(ledger['base_value'])}. "
            f"Contributions (Shapley, leave-one-out, reward): {why_not}."
        )
    lines = [
        "# Federation ledger",
        "",
        summary,
        "",
        "| party | examples | rounds joined | rejected | MB sent | MB received | GFLOPs | "
        "CPU s | energy Wh | epsilon | Shapley | share | leave-one-out | reward |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ledger["parties"]:
        share = r.get("share")
        lines.append(
            f"| {r['party']} | {r['examples']} | {r['rounds_joined']} | {r['updates_rejected']}"
            f" | {r['bytes_sent'] / 1e6:.3f} | {r['bytes_received'] / 1e6:.3f}"
            f" | {r['flops'] / 1e9:.1f} | {r['cpu_seconds']:.1f} | {r['energy_wh']:.3f}"
            f" | {_fmt(r['epsilon'], 2)} | {_fmt(r.get('shapley'))}"
            f" | {'-' if share is None or math.isnan(share) else f'{100 * share:.1f}%'}"
            f" | {_fmt(r.get('leave_one_out'))} | {_fmt(r.get('reward'), 2)} |"
        )
    lines += ["", f"Reward pool: {t['reward_pool']}.", "", "Assumptions:", ""]
    lines += [f"- {k}: {v}" for k, v in ledger["assumptions"].items()]
    if rounds:
        lines += [
            "",
            "## Rounds",
            "",
            "| round | accepted | rejected | failed | dev |",
            "|---:|---|---|---|---:|",
        ]
        for rec in rounds:
            metric_key = next((k for k in rec if k.startswith("dev_")), None)
            rejected = "; ".join(f"{x['party']}: {x['reason']}" for x in rec["rejected"])
            failed = "; ".join(f"{x['party']}: {x['reason']}" for x in rec["failed"])
            lines.append(
                f"| {rec['round']} | {', '.join(rec['accepted'])} | {rejected or '-'}"
                f" | {failed or '-'} | {_fmt(rec.get(metric_key) if metric_key else None)} |"
            )
    return "\n".join(lines) + "\n"


def _contributions_missing(ledger: dict[str, Any]) -> str | None:
    """Why the ledger has no contributions (ledger.json's `contributions.reason`), or None."""
    info = ledger.get("contributions") or {}
    return None if info.get("available", True) else str(info.get("reason"))


def ledger_plot(ledger: dict[str, Any], path: Path) -> None:
    """Shapley value and leave-one-out per party, side by side."""
    rows = [r for r in ledger["parties"] if "shapley" in r]
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(rows) + 2), 4))
    if rows:
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [r["shapley"] for r in rows], 0.4, label="Shapley")
        ax.bar(
            [x + 0.2 for x in xs], [r["leave_one_out"] for r in rows], 0.4, label="leave-one-out"
        )
        ax.set_xticks(list(xs), [r["party"] for r in rows], rotation=20)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.legend()
    elif why_not := _contributions_missing(ledger):
        ax.text(0.5, 0.5, "\n".join(textwrap.wrap(why_not, 60)), ha="center", va="center")
        ax.set_axis_off()
    ax.set_ylabel(f"contribution to {ledger['metric']}")
    ax.set_title("party contributions to the final model")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
