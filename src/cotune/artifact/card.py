"""Model card (README.md with a YAML header, in the Hugging Face card format)."""

from __future__ import annotations

from typing import Any

import yaml

from cotune.artifact.meta import ArtifactMeta


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def base_licence(meta: ArtifactMeta) -> str | None:
    """The backbone's licence from cotune's catalog (None for a folder or Hub id)."""
    from cotune.models.catalog import BACKBONES

    entry = BACKBONES.get(str(meta.backbone.get("name")))
    return entry.licence if entry else meta.backbone.get("licence")


def contributors(meta: ArtifactMeta) -> list[str]:
    """tracking.contributors of the run config (it defaults to $COTUNE_CONTRIBUTORS or the
    OS user when the config is made, so the card names who trained, not who rendered it)."""
    names = (meta.config.get("tracking") or {}).get("contributors")
    if names:
        return [str(n) for n in names]
    from cotune.config.tracking import default_contributors

    return default_contributors()


def privacy_lines(meta: ArtifactMeta) -> list[str]:
    """The `privacy` section of the run config, if the run had one."""
    privacy = meta.config.get("privacy")
    if not privacy:
        return [
            "- none: trained without differential privacy or de-identification. Like any "
            "fine-tuned model it may reproduce rare strings (names, handles) from its "
            "training data."
        ]
    return ["```yaml", yaml.safe_dump(privacy, sort_keys=False, allow_unicode=True).strip(), "```"]


def dp_lines(dp: dict[str, Any] | None) -> list[str]:
    """What a DP-SGD run guarantees (metrics.json `training.privacy`), in words."""
    if not dp:
        return []
    target = dp.get("epsilon_target")
    noise = f"noise multiplier {dp['noise_multiplier']:.4g}" + (
        f" (calibrated to epsilon {target:g} over {dp['planned_steps']} steps)"
        if dp.get("noise_calibrated")
        else ""
    )
    stop = (
        f"; training stopped when the budget epsilon {target:g} was spent"
        if dp.get("budget_exhausted")
        else ""
    )
    return [
        "",
        f"**Differential privacy: (epsilon = {dp['epsilon']:.3g}, delta = {dp['delta']:.3g})** "
        f"for each training row, by DP-SGD: Poisson sampling at rate {dp['sample_rate']:.4g} "
        f"(expected batch {dp['expected_batch_size']}), each example's gradient clipped to "
        f"norm {dp['max_grad_norm']:g}, Gaussian {noise}, {dp['accountant']} accountant, "
        f"{dp['steps']} steps{stop}.",
        "",
        "- Covers the rows of the training split. Not covered: the dev split (it picks the "
        "best checkpoint), the pretrained backbone, and any search over hyper-parameters.",
        f"- {100 * dp.get('clipped_fraction', 0):.1f}% of per-example gradients were clipped.",
    ]


def augment_lines(aug: dict[str, Any] | None) -> list[str]:
    """The card's account of `data.augment` (cotune.augment): what was added to train."""
    if not aug:
        return []
    added = ", ".join(f"{k} {v}" for k, v in aug.get("added", {}).items())
    return [
        f"- augmentation (training split only): {aug.get('sentences_in')} -> "
        f"{aug.get('sentences_out')} sentences ({added}); ratio {aug.get('ratio')}, "
        f"{aug.get('copies')} copies per operation, seed {aug.get('seed')}, synonyms "
        f"{aug.get('synonyms')}; {aug.get('skipped_short')} too short to augment"
    ]


def model_card(meta: ArtifactMeta, metrics: dict[str, Any]) -> str:
    task_tag = (
        "token-classification" if meta.task == "token-classification" else "text-classification"
    )
    prov = meta.data.get("provenance", {})
    split = meta.data.get("split", {})
    header = {
        "library_name": "transformers",
        "pipeline_tag": task_tag,
        "base_model": meta.backbone.get("name"),
        "license": (base_licence(meta) or "other").lower(),
        "tags": ["cotune", meta.method.get("name", "full")],
        "datasets": [prov.get("name")],
        "model-index": [
            {
                "name": meta.config.get("name") or "model",
                "results": [
                    {
                        "task": {"type": task_tag},
                        "dataset": {"name": prov.get("name"), "split": s},
                        "metrics": [
                            {"type": k, "value": round(float(v), 4)}
                            for k, v in metrics.get(s, {}).items()
                            if isinstance(v, int | float) and not k.startswith("n")
                        ],
                    }
                    for s in ("dev", "test")
                    if s in metrics
                ],
            }
        ],
    }
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).strip(), "---", ""]
    licence = base_licence(meta) or "unknown (not in the cotune catalog: check the source)"
    lines += [
        f"# {meta.config.get('name') or 'cotune model'}",
        "",
        f"A **{meta.task}** model fine-tuned with cotune from `{meta.backbone.get('name')}` "
        f"(weights fingerprint `{meta.backbone.get('fingerprint')}`) with the "
        f"`{meta.method.get('name')}` method.",
        "",
        "## Intended use",
        "",
        f"Labels: {', '.join(f'`{x}`' for x in meta.labels)}. Load it with "
        f'`transformers.pipeline("{task_tag}", model=FOLDER'
        + (', aggregation_strategy="first")' if task_tag == "token-classification" else ")")
        + "` or `cotune predict FOLDER TEXT`.",
        "",
        "Out of scope: decisions about people without human review, and text unlike the "
        "training data below (other languages, domains or label sets) without re-evaluation.",
        "",
        "## Base model",
        "",
        f"- `{meta.backbone.get('name')}`, licence: {licence}, weights sha256 (first 16) "
        f"`{meta.backbone.get('fingerprint')}`",
        "",
        "## Data",
        "",
        f"- source: `{prov.get('name')}` ({prov.get('description', '')})",
        f"- package: {prov.get('package')} {prov.get('package_version') or ''}",
        f"- licence note: {prov.get('licence')}",
        "- files (sha256): "
        + ", ".join(f"`{k}` `{v[:16]}`" for k, v in (prov.get("files") or {}).items()),
        f"- split: {split.get('method')} seed {split.get('seed')}, sizes {split.get('sizes')}",
        *augment_lines(split.get("augment")),
        "",
        "## Training",
        "",
        "```yaml",
        yaml.safe_dump(meta.config, sort_keys=False, allow_unicode=True).strip(),
        "```",
        "",
    ]
    tr = metrics.get("training", {})
    if tr:
        lines += ["| training | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in tr.items() if not isinstance(v, dict | list)]
        lines.append("")
    lines += ["## Evaluation", ""]
    for s in ("dev", "test"):
        m = metrics.get(s)
        if not m:
            continue
        scalars = {k: v for k, v in m.items() if isinstance(v, int | float)}
        lines += [f"### {s}", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in scalars.items()]
        breakdown = m.get("per_type") or m.get("per_class") or {}
        if breakdown:
            lines += ["", "| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
            for k, v in breakdown.items():
                lines.append(
                    f"| {k} | {v['precision']:.4f} | {v['recall']:.4f} | {v['f1-score']:.4f} "
                    f"| {int(v['support'])} |"
                )
        lines.append("")
    lines += [
        "## Limitations",
        "",
        "- Evaluated only on the split above; expect lower quality on text unlike it.",
        "- Entity F1 is strict (seqeval, IOB2): a span counts only with exact boundaries and type."
        if meta.task == "token-classification"
        else "- Texts longer than the model's max_length are truncated before classification.",
    ]
    unk = meta.extra.get("unk_rate")
    if unk is not None:
        lines.append(f"- Unknown-token rate of the training text under this tokenizer: {unk:.2%}.")
    lines += ["", "## Privacy", "", *privacy_lines(meta)]
    lines += [*dp_lines(metrics.get("training", {}).get("privacy")), "", "## Contributors", ""]
    lines += [f"- {name}" for name in contributors(meta)] or ["- not recorded"]
    lines.append(f"\nTrained with cotune {meta.cotune_version} on {meta.created}.")
    return "\n".join(lines) + "\n"
