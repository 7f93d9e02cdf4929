"""README.md of a derived backbone: where it comes from and every step that made it.

Rendered from the folder's lineage file (cotune-backbone.json), so a backbone extended, then
pre-trained, then pre-trained again tells all three steps and the text each one read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cotune.files import atomic_write_text
from cotune.models.vocab import LINEAGE_FILE, read_lineage


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _sources(step: dict[str, Any]) -> list[str]:
    lines = []
    for s in step.get("sources") or []:
        files = ", ".join(
            f"`{Path(k).name}` `{str(v)[:16]}`" for k, v in (s.get("files") or {}).items()
        )
        pkg = f"{s.get('package')} {s.get('package_version') or ''}".strip()
        lines.append(
            f"  - `{s.get('name')}` ({s.get('use', 'all')}; {s.get('texts')} texts, "
            f"{s.get('characters')} characters){'; package ' + pkg if s.get('package') else ''}; "
            f"licence note: {s.get('licence', 'unknown')}; files (sha256): {files}"
        )
    return lines


def _extension(step: dict[str, Any]) -> list[str]:
    added = step.get("added") or []
    shown = " ".join(added[:40]) + (" ..." if len(added) > 40 else "")
    return [
        f"Vocabulary extension ({step.get('mode')}): {len(added)} entries added to the "
        f"{step.get('old_vocab_size')} of `{step.get('base')}` (min frequency "
        f"{step.get('min_freq')}, cap {step.get('max_new') or 'none'}); old ids and "
        "embedding rows unchanged.",
        "",
        f"- new rows: {step.get('init_from_pieces')} = mean of the pieces they replace, "
        f"{step.get('init_from_mean')} = mean embedding + noise ({step.get('noise')} std)",
        f"- unknown-token rate on the {step.get('texts')} texts: "
        f"{step.get('unk_rate_before', 0):.2%} before, {step.get('unk_rate_after', 0):.2%} after",
        f"- first entries: {shown}",
        "- learned from:",
        *_sources(step),
    ]


def _pretraining(step: dict[str, Any]) -> list[str]:
    tr = step.get("training", {})
    before, after = step.get("before", {}), step.get("after", {})
    budget = step.get("budget")
    lines = [
        f"Continued masked-LM pre-training of `{step.get('base')}`: {tr.get('steps')} steps "
        f"({tr.get('epochs')} epochs) in {tr.get('train_seconds', 0) / 60:.1f} min of training "
        f"on {step.get('device', 'cpu')}, {tr.get('words_per_s', 0):.0f} words/s.",
        "",
    ]
    if budget:
        lines += [
            f"- budget: {budget['minutes']} min -> {budget['steps']} steps (probe: "
            f"{budget['seconds_per_step']:.2f} s/step)",
        ]
    lines += [
        f"- masking: {step.get('mlm')}",
        f"- train texts {step.get('train_texts')}, held-out dev texts {step.get('dev_texts')}",
        f"- unknown-token rate of the text: {step.get('unk_rate', 0):.2%}",
        "",
        "| held-out masked LM | before | after |",
        "|---|---|---|",
    ]
    for key in ("mlm_loss", "mlm_accuracy", "perplexity"):
        lines.append(f"| {key} | {_fmt(before.get(key))} | {_fmt(after.get(key))} |")
    lines += ["", "- text:", *_sources(step)]
    return lines


def backbone_card(folder: Path, name: str | None = None, shown: Path | None = None) -> str:
    """The card of backbone `folder` (`shown`: the path to print, when staged elsewhere)."""
    import json

    doc = json.loads((folder / LINEAGE_FILE).read_text(encoding="utf-8"))
    root, steps = doc["root"], read_lineage(folder)
    datasets = sorted({str(s.get("name")) for st in steps for s in st.get("sources") or []})
    header = {
        "library_name": "transformers",
        "base_model": root.get("name"),
        "license": (root.get("licence") or "other").lower(),
        "tags": ["cotune", "domain-adaptation", "fill-mask"],
        "datasets": datasets,
    }
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).strip(), "---", ""]
    lines += [
        f"# {name or folder.name}",
        "",
        f"A BERT-family **backbone** (not a task model) derived from `{root.get('name')}` "
        f"(weights sha256, first 16: `{root.get('fingerprint')}`, licence "
        f"{root.get('licence') or 'unknown: check the source'}). Fine-tune it with cotune "
        "(`model.backbone: " + str(shown or folder) + "`) or load it with "
        "`transformers.AutoModel.from_pretrained(FOLDER)`.",
        "",
    ]
    for k, step in enumerate(steps, start=1):
        title = "vocabulary extension" if step["kind"] == "vocab-extension" else "pre-training"
        lines += [f"## Step {k}: {title}", ""]
        lines += _extension(step) if step["kind"] == "vocab-extension" else _pretraining(step)
        lines.append("")
    lines += [
        "## Limitations",
        "",
        "- A new token is only as good as the text it was seen in: rare characters keep rows "
        "close to their initialisation.",
        "- The corpora named above carry their own licence notes (several are research-use "
        "only); this backbone inherits them.",
        "- Measured here only as a masked-LM; its value for a task shows only after fine-tuning "
        "(docs/benchmarks.md, domain adaptation).",
        "",
    ]
    return "\n".join(lines)


def write_backbone_card(folder: Path, name: str | None = None, shown: Path | None = None) -> None:
    atomic_write_text(folder / "README.md", backbone_card(folder, name, shown))
