"""`cotune monitor report`: a period's volume and negative share per topic, with its alerts, as
a PNG (matplotlib) and a self-contained HTML page (the PNG inlined), written atomically."""

from __future__ import annotations

import base64
import html
import os
import tempfile
from pathlib import Path
from typing import Any

from cotune.apps.monitor.events import iso
from cotune.apps.monitor.store import Store


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_report(
    store: Store,
    out: Path,
    since: float | None,
    until: float | None,
    per: int = 1,
    max_topics: int = 6,
    title: str = "Sentiment monitor",
) -> dict[str, Any]:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    topics = [t["topic"] for t in store.topics()][:max_topics]
    alerts = store.alerts(since, until, limit=1000)
    fig, axes = plt.subplots(
        max(len(topics), 1), 1, figsize=(11, 2.6 * max(len(topics), 1)), squeeze=False
    )
    from datetime import UTC, datetime

    for ax, topic in zip(axes[:, 0], topics or [None], strict=False):
        points = store.series_points(topic, None, since, until, per) if topic else []
        if not points:
            ax.text(0.5, 0.5, "no events in this period", ha="center", transform=ax.transAxes)
            continue
        when = [datetime.fromtimestamp(p["start"], UTC) for p in points]
        width = store.window_s * per / 86400
        ax.bar(when, [p["volume"] for p in points], width=width, color="#b8c7d9", align="edge")
        ax.set_ylabel("volume")
        share = ax.twinx()
        share.plot(when, [p["negative_share"] for p in points], color="#c0392b")
        share.set_ylim(0, 1)
        share.set_ylabel("negative share")
        for a in alerts:
            if a["kind"] == "topic" and a["name"] == topic:
                ax.axvspan(
                    datetime.fromtimestamp(a["window_start_ts"], UTC),
                    datetime.fromtimestamp(a["window_end_ts"], UTC),
                    color="#f39c12",
                    alpha=0.4,
                )
        ax.set_title(f"topic {topic}")
    fig.suptitle(f"{title}: {iso(since) if since else 'start'} to {iso(until) if until else 'now'}")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    png = buffer.getvalue()
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "report.png", png)
    rows = "".join(
        f"<tr><td>{html.escape(a['severity'])}</td><td>{html.escape(a['kind'])} "
        f"{html.escape(a['name'])}</td><td>{html.escape(a['window_start'])}</td>"
        f"<td>{a['observed']:.0%}</td><td>{a['baseline']:.0%}</td><td>{a['volume']}</td><td>"
        + "<br>".join(html.escape(x["text"]) for x in a.get("examples", []))
        + "</td></tr>"
        for a in alerts
    )
    page = (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><img alt='volume and negative share per topic' "
        f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        f"<h2>{len(alerts)} alerts</h2><table border='1' cellpadding='4'><tr><th>severity</th>"
        f"<th>series</th><th>window</th><th>negative</th><th>baseline</th><th>volume</th>"
        f"<th>texts</th></tr>{rows}</table>"
    )
    _atomic_write(out / "report.html", page.encode("utf-8"))
    return {
        "png": str(out / "report.png"),
        "html": str(out / "report.html"),
        "alerts": len(alerts),
        "topics": topics,
    }
