"""Sentiment monitor core: events in, detector, store + windows end to end on a tiny real
classifier, replays, late and duplicate events, kill -9 and restart, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cotune.apps.monitor.config import DetectorConfig, load_monitor_config
from cotune.apps.monitor.detector import Detector, cooled_down, new_state
from cotune.apps.monitor.engine import Monitor
from cotune.apps.monitor.events import event_from, natural_id, parse_line, parse_ts
from cotune.cli.main import app
from cotune.errors import ConfigError

from .helpers import flat
from .monitor_helpers import NEG, T0, monitor_config, sentiment_artifact, stream
from .postgres_helpers import postgres_server, postgres_url

__all__ = ["postgres_server", "postgres_url"]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory, tiny_backbone: Path) -> Path:
    return sentiment_artifact(tmp_path_factory, tiny_backbone)


def events_of(rows: list[dict]) -> list:
    return [event_from(r, 5000) for r in rows]


# ---------------------------------------------------------------------------- events


def test_event_refusals_name_the_problem() -> None:
    cases = {
        b'{"ts": 1764000000}': "missing text",
        b'{"text": "x"}': "missing ts",
        b'{"ts": "yesterday", "text": "x"}': "not an ISO 8601 time",
        b'{"ts": 1764000000000, "text": "x"}': "milliseconds",
        b'{"ts": 1764000000, "text": "  "}': "text is empty",
        b'{"ts": 1764000000, "text": 5}': "text must be a string",
        b'{"ts": 1764000000, "text": "x", "id": [1]}': "id must be",
        b"[1, 2]": "JSON object",
        b'{"ts": 1764000000, "text": "caf\xe9"}': "not valid UTF-8",
        b'{"ts": 1764000000, "text": "x"': "not valid JSON",
    }
    for raw, reason in cases.items():
        item = parse_line(raw, "s.jsonl:7", 100)
        assert item is not None and hasattr(item, "reason"), raw
        assert reason in item.reason and item.where == "s.jsonl:7", (raw, item)
    assert parse_line(b"   ", "s.jsonl:8", 100) is None


def test_event_times_ids_and_huge_texts() -> None:
    assert parse_ts("2025-11-24T16:00:00Z") == T0 == parse_ts("2025-11-24T16:00:00")
    assert parse_ts("2025-11-24T17:00:00+01:00") == T0 == parse_ts(str(int(T0)))
    e = event_from({"ts": T0, "text": "x" * 10_000, "source": "wire"}, 100)
    assert len(e.text) == 100 and e.truncated
    assert e.id == natural_id(T0, "x" * 100, "wire")  # the same item twice has one id
    assert event_from({"ts": T0, "text": "y", "id": 12}, 100).id == "12"


# ---------------------------------------------------------------------------- detector


def warm(det: Detector, st: dict, windows: int, n: int = 300, k: int = 60) -> None:
    for w in range(windows):
        assert not det.judge(st, w, n, k).surge


def test_volume_decides_not_the_share_alone() -> None:
    det = Detector(DetectorConfig(min_volume=1))
    st = new_state()
    warm(det, st, 20)
    assert not det.judge(st, 20, 4, 3).surge  # 3 of 4: no crisis
    verdict = det.judge(st, 21, 300, 130)  # 43% of 300 against a 20% baseline
    assert verdict.surge and verdict.severity == "high"
    assert abs(verdict.baseline - 0.2) < 0.02 and verdict.p_value is not None


def test_each_method_alerts_on_a_surge_and_stays_quiet_on_noise() -> None:
    import random

    for method in ("beta-binomial", "cusum", "threshold"):
        det = Detector(DetectorConfig(method=method, threshold=0.35))
        st, rng, alarms = new_state(), random.Random(1), 0
        for w in range(500):  # a flat binomial stream at 20%
            k = sum(rng.random() < 0.2 for _ in range(300))
            alarms += det.judge(st, w, 300, k).surge
        assert alarms <= 1, (method, alarms)
        assert any(det.judge(st, 500 + w, 300, 150).surge for w in range(3)), method


def test_cooldown_lets_only_escalations_through() -> None:
    st = {"last_alert_win": 10, "last_severity": "high"}
    assert not cooled_down(st, 12, "high", 12)
    assert cooled_down(st, 12, "critical", 12)
    assert cooled_down(st, 23, "warning", 12)


# ---------------------------------------------------------------------------- end to end


def test_surge_alerts_once_with_its_texts_and_replays_change_nothing(
    artifact: Path, tmp_path: Path
) -> None:
    cfg = monitor_config(tmp_path, artifact, alerts={"examples": 3})
    monitor = Monitor(cfg)
    rows = stream(180, surge=(100, 115))
    result = monitor.ingest(events_of(rows))
    alerts = result.alerts + monitor.judge_windows(final=True)
    assert result.stored == len(rows) and result.duplicates == 0
    assert len(alerts) == 1, alerts
    a = alerts[0]
    assert a["name"] == "rates" and a["kind"] == "topic"
    assert T0 + 100 * 60 <= a["window_start_ts"] < T0 + 115 * 60
    assert a["observed"] > 2 * a["baseline"] and a["volume"] == 60
    assert len(a["examples"]) == 3 and all(x["text"] in NEG for x in a["examples"])
    before = (monitor.store.count(), monitor.store.alerts(), monitor.store.closed_win())
    again = monitor.ingest(events_of(rows))  # the same input, delivered again
    assert again.stored == 0 and again.duplicates == len(rows) and not again.alerts
    assert (monitor.store.count(), monitor.store.alerts(), monitor.store.closed_win()) == before
    monitor.close()


def test_the_same_engine_on_a_real_postgresql_store(
    artifact: Path, tmp_path: Path, postgres_url: str
) -> None:
    """store.url is all it takes: ingest, de-duplicate on redelivery, judge windows (the
    compare-and-set on the last judged window), alert once, and a second Monitor on the same
    database (a restarted worker) finds it all and doubles nothing."""
    cfg = monitor_config(tmp_path, artifact, store={"url": postgres_url}, alerts={"examples": 3})
    monitor = Monitor(cfg)
    rows = stream(180, surge=(100, 115))
    result = monitor.ingest(events_of(rows))
    alerts = result.alerts + monitor.judge_windows(final=True)
    assert result.stored == len(rows) and len(alerts) == 1 and alerts[0]["name"] == "rates"
    assert monitor.store.engine.dialect.name == "postgresql"
    before = (monitor.store.count(), monitor.store.alerts(), monitor.store.closed_win())
    monitor.close()
    restarted = Monitor(cfg)
    again = restarted.ingest(events_of(rows))
    assert again.stored == 0 and again.duplicates == len(rows) and not again.alerts
    assert not restarted.judge_windows(final=True)
    after = (restarted.store.count(), restarted.store.alerts(), restarted.store.closed_win())
    assert after == before
    restarted.close()


def test_volume_and_share_per_window_from_the_store(artifact: Path, tmp_path: Path) -> None:
    monitor = Monitor(monitor_config(tmp_path, artifact))
    rows = stream(20, base=0.5, seed=3)
    monitor.ingest(events_of(rows))
    points = monitor.store.series_points("rates", None, None, None)
    assert [p["volume"] for p in points] == [60, 60, 60, 60]
    negatives = sum(r["text"] in NEG for r in rows[:60])
    assert points[0]["negative_share"] == pytest.approx(negatives / 60)
    assert monitor.store.series_points("rates", None, None, None, per=2)[1]["volume"] == 120


def test_late_and_out_of_order_events(artifact: Path, tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path, artifact, events={"lateness_minutes": 10})
    monitor = Monitor(cfg)
    rows = stream(60, seed=4)
    shuffled = rows[:]
    import random

    random.Random(0).shuffle(shuffled[:120])  # out of order inside the lateness bound
    monitor.ingest(events_of(shuffled))
    # window w is judged once the newest event is 10 minutes past its end
    assert monitor.store.closed_win() == int((T0 + 3600 - 5 - 600) // 300) - 1
    late = {"id": "late", "ts": T0 + 30, "text": NEG[0], "topic": "rates"}
    assert monitor.ingest(events_of([late])).stored == 1  # stored and shown, never re-judged
    with monitor.store.engine.connect() as c:
        from sqlalchemy import text

        assert c.execute(text("select late from events where id='late'")).scalar() == 1
    assert monitor.store.series_points("rates", None, None, None)[0]["volume"] == 61


def test_bad_config_names_key_and_line(tmp_path: Path, artifact: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(f"models:\n  sentiment: {artifact}\ndetector:\n  windw_minutes: 5\n")
    with pytest.raises(ConfigError) as e:
        load_monitor_config(path)
    assert "windw_minutes" in str(e.value) and "monitor.yaml:4" in str(e.value)
    path.write_text(f"models:\n  sentiment: {artifact}\n")
    Monitor(load_monitor_config(tmp_path)).close()
    with pytest.raises(ConfigError, match="5-minute windows"):
        Monitor(load_monitor_config(tmp_path, {"detector.window_minutes": 15}))


# ---------------------------------------------------------------------------- kill -9

WORKER = """
import json, sys
from cotune.apps.monitor.config import load_monitor_config
from cotune.apps.monitor.engine import Monitor
from cotune.apps.monitor.events import event_from
monitor = Monitor(load_monitor_config(sys.argv[1]))
rows = [json.loads(line) for line in open(sys.argv[2])]
for b in range(0, len(rows), 200):
    monitor.ingest([event_from(r, 5000) for r in rows[b:b + 200]])
    print("acked", b + 200, flush=True)
monitor.judge_windows(final=True)
print("done", flush=True)
"""


def _config_file(folder: Path, artifact: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "monitor.yaml"
    path.write_text(
        f"models:\n  sentiment: {artifact}\nevents:\n  lateness_minutes: 0\n"
        "detector:\n  min_volume: 10\n  warmup_windows: 4\nalerts:\n  sinks: []\n"
    )
    return path


def test_kill_9_mid_run_then_restart_loses_and_doubles_nothing(
    artifact: Path, tmp_path: Path
) -> None:
    rows = stream(240, surge=(150, 170), seed=5)
    data = tmp_path / "stream.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    killed = _config_file(tmp_path / "killed", artifact)
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(killed), str(data)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    assert proc.stdout is not None
    acked = 0
    for line in proc.stdout:
        acked = int(line.split()[1])
        if acked >= 1200:  # mid-run, with windows judged and the detector's state stored
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_monitor = Monitor(load_monitor_config(killed))
    assert killed_monitor.store.count() >= acked  # nothing acknowledged was lost
    killed_monitor.close()
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(killed), str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().endswith("done")
    clean = _config_file(tmp_path / "clean", artifact)
    subprocess.run(
        [sys.executable, "-c", WORKER, str(clean), str(data)], check=True, capture_output=True
    )
    a, b = Monitor(load_monitor_config(killed)), Monitor(load_monitor_config(clean))
    assert a.store.count() == b.store.count() == len(rows)
    strip = lambda alerts: [{k: v for k, v in x.items() if k != "id"} for x in alerts]  # noqa: E731
    assert strip(a.store.alerts()) == strip(b.store.alerts()) and len(b.store.alerts()) == 1


# ---------------------------------------------------------------------------- CLI


def test_cli_replay_writes_alerts_reports_bad_lines_and_reruns_identically(
    artifact: Path, tmp_path: Path
) -> None:
    config = _config_file(tmp_path / "mon", artifact)
    rows = stream(180, surge=(100, 120), seed=6)
    lines = [json.dumps(r) for r in rows]
    lines.insert(10, '{"text": "no time"}')
    lines.insert(20, '{"ts": "soon", "text": "x"}')
    data = tmp_path / "s.jsonl"
    data.write_bytes(("\n".join(lines) + "\n").encode() + b'{"ts": 1, "text": "\xff"}\n')
    out = tmp_path / "alerts.jsonl"
    runner = CliRunner()
    args = ["monitor", "replay", str(config), str(data), "--out", str(out), "--quiet"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    text = flat(first.output)
    assert f"{len(rows)} stored" in text and "3 refused" in text
    assert "s.jsonl:11: missing ts" in text and "s.jsonl:21: ts 'soon'" in text
    assert "not valid UTF-8" in text
    alerts = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(alerts) == 1 and alerts[0]["name"] == "rates" and alerts[0]["examples"]
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "0 stored" in flat(second.output)
    assert [json.loads(x) for x in out.read_text().splitlines()] == alerts
    report = runner.invoke(
        app,
        [
            "monitor",
            "report",
            str(config),
            "--store",
            f"sqlite:///{out}.db",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert report.exit_code == 0, report.output
    assert (tmp_path / "r/report.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "r/report.html").read_text()
    assert "1 alerts" in page and alerts[0]["examples"][0]["text"] in page
    missing = runner.invoke(
        app, ["monitor", "replay", str(config), str(tmp_path / "nope.jsonl"), "--out", str(out)]
    )
    assert missing.exit_code == 2 and "no such events file" in flat(missing.output)


def test_cli_help_has_examples() -> None:
    for command in ("run", "replay", "report"):
        result = CliRunner().invoke(app, ["monitor", command, "--help"])
        assert result.exit_code == 0 and "cotune monitor " + command in result.output
    time.sleep(0)


# ---------------------------------------------------------------------------- bounded state, follow


def test_series_state_stays_bounded(artifact: Path, tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from cotune.apps.monitor import engine as engine_module
    from cotune.apps.monitor.store import series

    cfg = monitor_config(tmp_path, artifact, detector={"max_series": 3})
    monitor = Monitor(cfg)
    rows = []
    for i, row in enumerate(stream(60 * 5, per_minute=2, topic=None)):
        rows.append({**row, "topic": f"t{i % 9}"})  # 9 topics, 3 kept
    old = engine_module.EVICT_EVERY
    engine_module.EVICT_EVERY = 1
    try:
        monitor.ingest(events_of(rows))
    finally:
        engine_module.EVICT_EVERY = old
    with monitor.store.engine.connect() as c:
        kept = c.execute(select(func.count()).select_from(series)).scalar_one()
    assert kept == 3  # trimmed after every window here
    assert monitor.store.count() == len(rows)  # forgetting detector state never drops events


def test_file_source_follows_a_growing_file(artifact: Path, tmp_path: Path) -> None:
    import threading

    from cotune.apps.monitor.sources import run_file

    monitor = Monitor(monitor_config(tmp_path, artifact))
    rows = stream(10, seed=8)
    path = tmp_path / "live.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:50]))
    stop = threading.Event()
    worker = threading.Thread(
        target=run_file, args=(monitor, path), kwargs={"follow": True, "speed": 0, "stop": stop}
    )
    worker.start()
    try:
        with path.open("a") as f:
            last = json.dumps(rows[50])
            f.write(last[:20])  # a writer caught mid-line: held until the line is complete
            f.flush()
            time.sleep(1.0)
            f.write(last[20:] + "\n" + "".join(json.dumps(r) + "\n" for r in rows[51:]))
        deadline = time.monotonic() + 60
        while monitor.store.count() < len(rows) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        worker.join(30)
    assert monitor.store.count() == len(rows)
