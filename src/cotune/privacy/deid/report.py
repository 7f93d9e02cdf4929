"""The redaction report: what was found, how it was replaced, and a sample to review.

The sample shows redacted text only (plus the type and the recogniser of each replacement), so the
report can travel with the data; `include_originals` adds the original values, for the data
owner's eyes only.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from cotune.files import atomic_write_text
from cotune.privacy.deid.formats import Redacted
from cotune.privacy.deid.pseudonymize import Pseudonymizer, normalise


def build_report(
    redacted: Redacted,
    pz: Pseudonymizer,
    *,
    meta: dict[str, Any],
    sample_size: int = 20,
    include_originals: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    distinct: dict[str, set[str]] = defaultdict(set)
    for c in redacted.changes:
        by_type[c.type][c.source] += 1
        distinct[c.type].add(normalise(c.type, c.original))
    counts = {
        kind: {
            "occurrences": sum(sources.values()),
            "distinct_values": len(distinct[kind]),
            "policy": pz.policy_for(kind),
            "found_by": dict(sources.most_common()),
        }
        for kind, sources in sorted(by_type.items())
    }
    units = sorted(redacted.samples)
    picked = sorted(
        random.Random(seed).sample(units, min(sample_size, len(units))), key=_unit_order
    )
    per_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in redacted.changes:
        item = {
            "type": c.type,
            "replacement": c.replacement,
            "source": c.source,
            "score": round(c.score, 3),
        }
        if include_originals:
            item["original"] = c.original
        per_unit[c.unit].append(item)
    sample = [
        {"unit": u, "redacted": redacted.samples[u], "replacements": per_unit[u]} for u in picked
    ]
    return {
        **meta,
        "units": redacted.units,
        "units_changed": len(redacted.samples),
        "replacements": len(redacted.changes),
        "per_type": counts,
        "sample": sample,
        "sample_has_originals": include_originals,
    }


def _unit_order(unit: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in unit.split(":"))


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Redaction report: {report.get('input', '')}",
        "",
        f"- output: `{report.get('output', '')}` ({report.get('format', '')})",
        f"- units read: {report['units']}, changed: {report['units_changed']}, "
        f"replacements: {report['replacements']}",
        f"- names from: {report.get('names', '')}",
        f"- vault: {report.get('vault') or 'none (the redaction cannot be reversed)'}",
        "",
        "| type | occurrences | distinct values | policy | found by |",
        "|---|---:|---:|---|---|",
    ]
    for kind, row in report["per_type"].items():
        found = ", ".join(f"{k} {v}" for k, v in row["found_by"].items())
        cells = [kind, row["occurrences"], row["distinct_values"], row["policy"], found]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", f"## Sample for review ({len(report['sample'])} units)", ""]
    for item in report["sample"]:
        lines.append(f"- `{item['unit']}`: {item['redacted']}")
        for r in item["replacements"]:
            orig = f" (was {r['original']!r})" if "original" in r else ""
            lines.append(
                f"  - {r['type']} -> `{r['replacement']}` [{r['source']}, {r['score']}]{orig}"
            )
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], path: Path) -> tuple[Path, Path]:
    """Write `path` as JSON and the same stem as Markdown (or the reverse when `path` is .md)."""
    json_path = path if path.suffix != ".md" else path.with_suffix(".json")
    md_path = path.with_suffix(".md") if path.suffix != ".md" else path
    atomic_write_text(json_path, json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(md_path, to_markdown(report))
    return json_path, md_path
