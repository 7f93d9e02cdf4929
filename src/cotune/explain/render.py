"""Explanations a person reads: a self-contained HTML page (each word shaded by its score, the
exact text kept between words) and a PNG (per-word bars for each target).

Green supports the target, red speaks against it; shade is the score over the largest absolute
score of that target. The page has no script, font or stylesheet from elsewhere: it opens
offline and can be mailed as it is. Both files are written to a temp file and renamed.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cotune.files import atomic_write_text

PNG_TARGETS = 8  # panels in one PNG; the HTML holds every target
PNG_WORDS = 24  # bars per panel: the words with the largest |score| when a text is longer

CSS = """
body{font:15px/1.6 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222;padding:0 1em}
h1{font-size:1.3em}h2{font-size:1.05em;margin:1.6em 0 .3em}
.target{border:1px solid #ddd;border-radius:6px;padding:.6em .9em;margin:.6em 0}
.meta{color:#555;font-size:.9em}.note{color:#8a5a00;font-size:.9em}
.text{white-space:pre-wrap;margin-top:.4em}
.w{border-radius:3px;padding:0 1px}.ent{outline:2px solid #333;outline-offset:1px}
.unseen{color:#999;text-decoration:underline dotted}
.legend span{padding:0 .5em;margin-right:.5em;border-radius:3px}
"""


def _shade(score: float | None, scale: float) -> str:
    if score is None or scale <= 0:
        return ""
    a = min(1.0, abs(score) / scale)
    rgb = "22,150,60" if score > 0 else "210,40,40"
    return f"background:rgba({rgb},{a * 0.85:.3f})"


def _text_html(text: str, words: Sequence[dict[str, Any]], entity: dict[str, Any] | None) -> str:
    scale = max((abs(w["score"]) for w in words if w["score"] is not None), default=0.0)
    parts, at = [], 0
    for w in words:
        parts.append(html.escape(text[at : w["start"]]))
        classes = ["w"]
        if w["score"] is None:
            classes.append("unseen")
        if entity and entity["start"] <= w["start"] and w["end"] <= entity["end"]:
            classes.append("ent")
        tip = "not seen by the model" if w["score"] is None else f"{w['score']:+.4g}"
        parts.append(
            f'<span class="{" ".join(classes)}" style="{_shade(w["score"], scale)}" '
            f'title="{html.escape(tip)}">{html.escape(text[w["start"] : w["end"]])}</span>'
        )
        at = w["end"]
    parts.append(html.escape(text[at:]))
    return "".join(parts)


def _target_meta(t: dict[str, Any]) -> str:
    bits = [f"method {t['method']}", f"probability {t['probability']:.3f}"]
    if "logit" in t:
        bits.append(f"logit {t['logit']:.3f}")
    if "baseline_logit" in t:
        bits.append(f"baseline logit {t['baseline_logit']:.3f}")
    if "convergence_delta" in t:
        bits.append(f"convergence delta {t['convergence_delta']:.2g}")
    return " · ".join(html.escape(b) for b in bits)


def html_page(explanations: Sequence[dict[str, Any]], title: str) -> str:
    """One page for many texts; `explanations` are `TextExplanation.to_dict()` records."""
    body = [
        f"<h1>{html.escape(title)}</h1>",
        '<p class="legend"><span style="background:rgba(22,150,60,.6)">supports the target'
        '</span><span style="background:rgba(210,40,40,.6)">speaks against it</span>'
        '<span class="unseen">not seen by the model</span> hover a word for its score; '
        "a box marks the entity explained</p>",
    ]
    for n, ex in enumerate(explanations, start=1):
        body.append(f"<h2>Text {n}: {html.escape(_prediction_line(ex['prediction']))}</h2>")
        body.extend(f'<p class="note">{html.escape(note)}</p>' for note in ex.get("notes", []))
        for t in ex["explanations"]:
            what = t["label"]
            if t.get("entity"):
                what = f"{t['label']}: “{t['entity']['text']}”"
            shaded = _text_html(ex["text"], t["words"], t.get("entity"))
            body.append(
                f'<div class="target"><b>{html.escape(what)}</b> '
                f'<span class="meta">{_target_meta(t)}</span>'
                f'<div class="text">{shaded}</div></div>'
            )
        if not ex["explanations"]:
            body.append(f'<div class="text">{html.escape(ex["text"])}</div>')
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _prediction_line(prediction: dict[str, Any]) -> str:
    if "entities" in prediction:
        ents = prediction["entities"]
        return f"{len(ents)} entities" + (
            ": " + ", ".join(f"{e['text']} ({e['label']})" for e in ents) if ents else ""
        )
    return "predicted " + ", ".join(prediction.get("labels") or [])


def write_html(path: Path, explanations: Sequence[dict[str, Any]], title: str) -> None:
    atomic_write_text(path, html_page(explanations, title))


def write_png(path: Path, explanations: Sequence[dict[str, Any]], title: str) -> None:
    """Per-word bars for the first `PNG_TARGETS` targets (text order; the top |score| words of
    a longer text)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(ex, t) for ex in explanations for t in ex["explanations"]][:PNG_TARGETS]
    with plt.rc_context({"font.family": _font_families()}):
        _plot(plt, path, panels, title)


def _font_families() -> list[str]:
    """DejaVu first, then a CJK font where one is installed: matplotlib falls back glyph by
    glyph, so Chinese words are drawn instead of boxes."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [
        f for f in ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei") if f in installed
    ]
    return ["DejaVu Sans", *cjk[:1]]


def _plot(plt: Any, path: Path, panels: list[tuple[Any, Any]], title: str) -> None:
    fig, axes = plt.subplots(
        max(1, len(panels)), 1, figsize=(9, 2.6 * max(1, len(panels))), squeeze=False
    )
    for ax, (_ex, t) in zip(axes[:, 0], panels, strict=False):
        words = [w for w in t["words"] if w["score"] is not None]
        if len(words) > PNG_WORDS:
            keep = sorted(words, key=lambda w: -abs(w["score"]))[:PNG_WORDS]
            words = [w for w in words if w in keep]
        scores = [w["score"] for w in words]
        ax.bar(
            range(len(words)),
            scores,
            color=["#16963c" if s > 0 else "#d22828" for s in scores],
        )
        ax.set_xticks(range(len(words)), [w["word"] for w in words], rotation=45, ha="right")
        ax.axhline(0, color="#444", linewidth=0.6)
        what = t["label"] + (f": {t['entity']['text']}" if t.get("entity") else "")
        ax.set_title(f"{what} (p={t['probability']:.2f}, {t['method']})", fontsize=10)
        ax.set_ylabel("attribution")
    if not panels:
        axes[0, 0].text(0.5, 0.5, "nothing to explain", ha="center", va="center")
        axes[0, 0].set_axis_off()
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    _save(fig, plt, path)


def global_html(report: dict[str, Any], title: str) -> str:
    """The words that drive each label or type, then the confident errors, each shaded."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    body.append(
        f'<p class="meta">{report["examples"]} examples, method {html.escape(report["method"])}; '
        f"words seen at least {report['min_count']} times, ranked by total attribution</p>"
    )
    for key, heading in (
        ("label_words", "Words that drive each label"),
        ("entity_words", "Words inside entities, per type"),
        ("context_words", "Context words around entities, per type"),
    ):
        if key not in report:
            continue
        body.append(f"<h2>{heading}</h2>")
        for label, rows in report[key].items():
            cells = "".join(
                f"<tr><td>{html.escape(r['word'])}</td><td>{r['total']:+.3f}</td>"
                f"<td>{r['mean']:+.3f}</td><td>{r['count']}</td></tr>"
                for r in rows
            )
            body.append(
                f'<div class="target"><b>{html.escape(label)}</b><table>'
                "<tr><th>word</th><th>total</th><th>mean</th><th>count</th></tr>"
                f"{cells}</table></div>"
            )
    body.append(
        f"<h2>Most confident errors ({len(report['high_confidence_errors'])} of "
        f"{report['errors_found']})</h2>"
    )
    for err in report["high_confidence_errors"]:
        gold = err["gold"]
        gold_text = ", ".join(
            g if isinstance(g, str) else f"{g['text']} ({g['label']})" for g in gold
        )
        predicted = err["predicted"]
        said = (
            ", ".join(predicted)
            if isinstance(predicted, list)
            else (f"{predicted['text']} ({predicted['label']})")
        )
        body.append(
            f'<div class="target"><b>predicted {html.escape(said)}</b> '
            f'<span class="meta">confidence {err["confidence"]:.3f} · gold: '
            f"{html.escape(gold_text or 'no entity')}"
            f"{' · ' + html.escape(err['kind']) if 'kind' in err else ''}</span>"
        )
        for t in err["explanations"]:
            what = t["label"] + (" (gold)" if t.get("gold") else "")
            body.append(
                f'<div class="meta">{html.escape(what)}: {_target_meta(t)}</div>'
                f'<div class="text">{_text_html(err["text"], t["words"], t.get("entity"))}</div>'
            )
        body.append("</div>")
    css = CSS + "table{border-collapse:collapse}td,th{padding:0 .8em;text-align:left}"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{css}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def write_global_png(path: Path, report: dict[str, Any], title: str, top: int = 10) -> None:
    """One panel per label or entity type: its top words by total attribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = report.get("label_words") or report.get("entity_words") or {}
    if "context_words" in report:  # NER: the context is what a person cannot see in the span
        tables = report["context_words"]
    labels = [lab for lab, rows in tables.items() if rows][:12]
    with plt.rc_context({"font.family": _font_families()}):
        fig, axes = plt.subplots(
            max(1, len(labels)), 1, figsize=(8, 2.4 * max(1, len(labels))), squeeze=False
        )
        for ax, label in zip(axes[:, 0], labels, strict=False):
            rows = tables[label][:top][::-1]
            ax.barh([r["word"] for r in rows], [r["total"] for r in rows], color="#16963c")
            ax.set_title(label, fontsize=10)
        if not labels:
            axes[0, 0].text(0.5, 0.5, "no word seen often enough", ha="center", va="center")
            axes[0, 0].set_axis_off()
        fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        _save(fig, plt, path)


def _save(fig: Any, plt: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
