"""`cotune monitor run|replay|report`: the sentiment monitor (src/cotune/apps/monitor)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import typer

from cotune.cli.common import console, progress_enabled, reports_errors

app = typer.Typer(
    help="Sentiment monitor: score a text stream by topic and sentiment, detect negative surges, "
    "alert, and show it on a dashboard.",
    no_args_is_help=True,
)
OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}

RUN_HELP = """Run a monitor live: its source (http push, a followed JSONL file, stdin or a Redis
stream, from the config's `source:` section) is scored, stored and judged, alerts go to the
configured sinks, and the dashboard is served at http://HOST:PORT/monitors/NAME.
Any config key is also a flag (--detector.window_minutes 15).

\b
  cotune monitor run examples/monitor/monitor.yaml --port 8090
  cotune monitor run monitor.yaml --source.type redis --source.redis_url redis://10.0.0.5:6379/0
"""

REPLAY_HELP = """Replay a JSONL stream of events ({"ts", "text", "id"?, "topic"?, ...}) through a
monitor, on event time and as fast as the model allows; write the alerts it raised to --out.
The store defaults to OUT.db beside --out, so replaying the same stream again changes nothing,
and a different stream with a different --out starts fresh. Bad lines are reported by line and
skipped (--rejects keeps them).

\b
  cotune monitor replay examples/monitor/monitor.yaml stream.jsonl --out alerts.jsonl
  cotune monitor replay monitor.yaml stream.jsonl --out a.jsonl --detector.window_minutes 15
"""

REPORT_HELP = """Render a report of a period from a monitor's store: report.png (volume and
negative share per topic, alerts shaded) and report.html (the chart and the alerts' texts).

\b
  cotune monitor report examples/monitor/monitor.yaml --out report/
  cotune monitor report monitor.yaml --store sqlite:///alerts.jsonl.db --since 2026-12-01 --out r/
"""


def _load(config: Path, args: list[str], store: str | None) -> Any:
    from cotune.apps.monitor.config import load_monitor_config
    from cotune.config import parse_overrides

    overrides = parse_overrides(args)
    if store:
        overrides["store.url"] = store
    return load_monitor_config(config, overrides)


@app.command("replay", help=REPLAY_HELP, context_settings=OVERRIDES)
@reports_errors
def replay(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="monitor.yaml, or the folder holding it."),
    stream: Path = typer.Argument(..., help="JSONL events file."),
    out: Path = typer.Option(..., "--out", "-o", help="Alerts raised, one JSON per line."),
    store: str = typer.Option(None, "--store", help="SQLAlchemy URL (default: sqlite OUT.db)."),
    rejects: Path = typer.Option(None, "--rejects", help="Write refused lines' reasons here."),
    drain_s: float = typer.Option(30.0, "--drain-s", help="Wait this long for sinks at the end."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from cotune.apps.monitor.engine import IngestResult, Monitor
    from cotune.apps.monitor.events import Refused
    from cotune.apps.monitor.sinks import Dispatcher, build_sink
    from cotune.apps.monitor.sources import read_batches
    from cotune.errors import DataError

    if not stream.is_file():
        raise DataError("no such events file", where=str(stream), fix="check the path")
    if out.resolve() == stream.resolve():
        raise DataError("--out is the input stream", where=str(out), fix="write alerts elsewhere")
    cfg = _load(config, ctx.args, store or f"sqlite:///{out.resolve()}.db")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    monitor = Monitor(cfg)
    dispatcher = Dispatcher(
        monitor.store,
        cfg.alerts,
        {
            k: build_sink(s, cfg.folder)
            for k, s in zip(monitor.sinks, cfg.alerts.sinks, strict=True)
        },
    )
    dispatcher.start()  # alerts go out while the replay runs, never holding it up
    refused: list[Refused] = []
    total = IngestResult()
    first_ts, last_ts = float("inf"), float("-inf")
    started = time.monotonic()
    with (
        stream.open("rb") as f,
        Progress(
            TextColumn("replay"),
            BarColumn(),
            TextColumn("{task.fields[events]} events"),
            TextColumn("{task.fields[alerts]} alerts"),
            TimeRemainingColumn(),
            console=console,
            disable=progress_enabled(quiet) is False or not console.is_terminal,
        ) as bar,
    ):
        task = bar.add_task("replay", total=stream.stat().st_size, events=0, alerts=0)
        for batch in read_batches(
            f, str(stream), cfg.models.batch_size * 4, cfg.events.max_text_chars, refused.append
        ):
            first_ts = min(first_ts, *(e.ts for e in batch))
            last_ts = max(last_ts, *(e.ts for e in batch))
            total += monitor.ingest(batch)
            bar.update(task, completed=f.tell(), events=total.received, alerts=len(total.alerts))
        total.alerts += monitor.judge_windows(final=True)
    elapsed = time.monotonic() - started
    counts = dispatcher.drain(drain_s)
    dispatcher.stop()
    alerts = (
        sorted(
            monitor.store.alerts(first_ts, last_ts + monitor.window_s, limit=1_000_000),
            key=lambda a: (a["window_start_ts"], a["series"]),
        )
        if total.received
        else []
    )
    _write_jsonl(out, alerts)
    if rejects is not None:
        _write_jsonl(rejects, [{"where": r.where, "reason": r.reason} for r in refused])
    monitor.close()
    for r in refused[:5]:
        console.print(f"[yellow]refused[/] {r.where}: {r.reason}", highlight=False)
    if len(refused) > 5:
        console.print(
            f"[yellow]... and {len(refused) - 5} more refused lines[/] (--rejects FILE lists them)"
        )
    rate = total.stored / elapsed if elapsed > 0 else 0.0
    console.print(
        f"{total.received} events read, {total.stored} stored, {total.duplicates} already stored, "
        f"{len(refused)} refused; {len(alerts)} alerts -> {out} "
        f"({rate:.0f} events/s scored and stored)",
        highlight=False,
    )
    if counts.get("pending"):
        console.print(
            f"[yellow]{counts['pending']} alert deliveries are still pending[/] (a sink is down): "
            "they stay queued in the store and go out on the next run",
            highlight=False,
        )


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write whole, then rename: a crash never leaves half a file where the old one was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command("run", help=RUN_HELP, context_settings=OVERRIDES)
@reports_errors
def run(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="monitor.yaml, or the folder holding it."),
    host: str = typer.Option("127.0.0.1", help="Interface for the API and dashboard."),
    port: int = typer.Option(8090, help="TCP port."),
    store: str = typer.Option(None, "--store", help="SQLAlchemy URL (default: the config's)."),
    api_keys_env: str = typer.Option(None, help="Environment variable holding API keys."),
) -> None:
    import uvicorn

    from cotune.apps.monitor.serve import MonitorMount
    from cotune.serving import ServeSettings, create_app

    cfg = _load(config, ctx.args, store)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    settings = ServeSettings(host=host, port=port, api_keys_env=api_keys_env)
    mount = MonitorMount(cfg.name, cfg)
    app_ = create_app(settings, {}, [mount])
    console.print(f"dashboard: http://{host}:{port}/monitors/{cfg.name}", highlight=False)
    uvicorn.run(app_, host=host, port=port, log_level="warning", timeout_graceful_shutdown=15)


@app.command("report", help=REPORT_HELP, context_settings=OVERRIDES)
@reports_errors
def report(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="monitor.yaml, or the folder holding it."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for report.png and report.html."),
    store: str = typer.Option(None, "--store", help="SQLAlchemy URL (default: the config's)."),
    since: str = typer.Option(None, help="Start (ISO 8601 or epoch seconds)."),
    until: str = typer.Option(None, help="End (ISO 8601 or epoch seconds)."),
    per: int = typer.Option(1, min=1, help="Windows per plotted point."),
) -> None:
    from cotune.apps.monitor.events import parse_ts
    from cotune.apps.monitor.report import render_report
    from cotune.apps.monitor.store import Store
    from cotune.errors import ConfigError

    cfg = _load(config, ctx.args, store)
    bounds = []
    for flag, value in (("--since", since), ("--until", until)):
        try:
            bounds.append(parse_ts(value) if value else None)
        except ValueError as e:
            raise ConfigError(
                f"{flag}: {e}", fix="give 2026-12-03T00:00:00Z or epoch seconds"
            ) from None
    db = Store(cfg.store_url(), cfg.detector.window_minutes * 60.0)
    done = render_report(db, out, bounds[0], bounds[1], per, title=f"Sentiment monitor {cfg.name}")
    db.close()
    console.print(
        f"{done['alerts']} alerts, topics {', '.join(done['topics']) or '(none)'}: "
        f"{done['png']}, {done['html']}",
        highlight=False,
    )
