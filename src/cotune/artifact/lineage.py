"""Lineage of an artifact in its card: the parent it continued from, the guards against
forgetting it trained with, and the promotion decisions made about it (docs/continual.md)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from cotune.artifact.card import model_card
from cotune.artifact.meta import ArtifactMeta
from cotune.files import atomic_write_text

PROMOTION_FILE = "promotion.json"


def update_meta(folder: Path, extra: dict[str, Any], *, merged: bool = False) -> ArtifactMeta:
    """Add `extra` to cotune.json (rewritten atomically); `merged`: the weights are plain."""
    meta = ArtifactMeta.read(folder)
    method = {**meta.method, "merged": True} if merged else meta.method
    meta = dataclasses.replace(meta, method=method, extra={**meta.extra, **extra})
    meta.write(folder)
    return meta


def lineage_lines(meta: ArtifactMeta) -> list[str]:
    parent = meta.extra.get("parent")
    if not parent:
        return []
    c = meta.extra.get("continual") or {}
    test = ", ".join(f"{k} {v:.4f}" for k, v in (parent.get("test") or {}).items()) or "-"
    lines = [
        "",
        "## Lineage",
        "",
        f"- parent: `{parent['path']}` ({parent.get('method')} on `{parent.get('data')}`, "
        f"created {parent.get('created')}, test {test})",
        f"- penalty: {c.get('penalty', 'none')}"
        + (f" (strength {c['strength']:g})" if c.get("strength") is not None else "")
        + (f"; Fisher {c['fisher']}" if c.get("fisher") else ""),
        f"- replayed earlier examples: {c.get('replayed_examples', 0)}",
    ]
    if c.get("added_labels"):
        lines.append(f"- labels added to the parent's head: {', '.join(c['added_labels'])}")
    if meta.extra.get("replay"):
        r = meta.extra["replay"]
        lines.append(
            f"- ships a replay reservoir of {r['size']} training examples (of {r['seen']} seen), "
            "so the texts travel with the model"
        )
    return lines


def promotion_lines(folder: Path) -> list[str]:
    path = folder / PROMOTION_FILE
    if not path.is_file():
        return []
    lines = ["", "## Promotion", ""]
    for d in json.loads(path.read_text(encoding="utf-8")):
        verdict = "promoted" if d["promoted"] else "not promoted"
        lines += [
            f"### {d['candidate']} vs {d['current']}: {verdict} ({d['decided']})",
            "",
            f"{d['reason']}",
            "",
            f"| test set | current {d['metric']} | candidate | change |",
            "|---|---|---|---|",
        ]
        for name, row in d["sets"].items():
            cur = "-" if row["current"] is None else f"{row['current']:.4f}"
            change = "-" if row["change"] is None else f"{row['change']:+.4f}"
            lines.append(
                f"| {name} (`{row['data']}`, n={row['n']}) | {cur} | "
                f"{row['candidate']:.4f} | {change} |"
            )
        lines.append("")
    return lines


def rewrite_card(folder: Path) -> None:
    """README.md from cotune.json and metrics.json, plus lineage and promotion sections."""
    meta = ArtifactMeta.read(folder)
    metrics_file = folder / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    text = model_card(meta, metrics).rstrip("\n")
    extra = [*lineage_lines(meta), *promotion_lines(folder)]
    atomic_write_text(folder / "README.md", text + "\n" + "\n".join(extra) + "\n")
