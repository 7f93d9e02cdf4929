"""Sentiment monitor benchmark (issue 23): surge detection, throughput, memory, Redis workers.

Detection: streams built from the held-out rt-polarity test split (the sentiment artifact's own
recorded split), scored once by the artifact and reused by every stream. One event per second
(Poisson), a 20% negative base share with a +/-15% daily cycle, 5-minute windows; surges raise the
negative share x1.5, x2, x3 for 15, 30, 60 minutes at a random time of the second day (seeds).
Each window's texts are drawn from the labelled pool, so its negative count is what the
classifier said of real held-out texts (drawn as binomial counts in the pool's rates);
"oracle" feeds the detector the true labels instead, which separates classifier error from
detector error. The detector and its cool-down are the
monitor's own (Detector.judge, cooled_down), one series, exactly as the engine calls them.

Throughput: the real engine (dedupe, score, SQLite store, windows, detector) on rt-polarity test
texts with the real model, batched; the store path alone with scores looked up (cheap model);
one vs two worker processes on a real redis-server; RSS over a long replay.

    .venv/bin/python bench/monitor.py detect              # ~2 min
    .venv/bin/python bench/monitor.py throughput --events 3000 --long 200000
    .venv/bin/python bench/monitor.py all
Writes bench/results/monitor.json (merged per part) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "monitor.json"
ARTIFACT = ROOT / "runs" / "rt-polarity"
WINDOW_S = 300.0
BASE = 0.2
DAY = 86400.0


# ------------------------------------------------------------------------------ data


def held_out(
    artifact: Path, classifier: str = "artifact"
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The test split: texts, true negative flags, predicted negative flags. `artifact`: the
    split the artifact recorded, predicted by it; `tfidf`: configs/rt-polarity.yaml's split,
    predicted by TF-IDF + logistic regression fitted on its train part (a stand-in for when the
    shared artifact is not trained yet: only its two error rates enter the detection streams)."""
    from cotune.config import load_config
    from cotune.data import load_splits

    source = (
        artifact / "run_config.yaml"
        if classifier == "artifact"
        else ROOT / "configs" / "rt-polarity.yaml"
    )
    splits, _ = load_splits(load_config(source).data)
    texts = [ex.text for ex in splits.test]
    truth = np.array([ex.labels[0] == "negative" for ex in splits.test])
    if classifier == "tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
        x = vec.fit_transform([ex.text for ex in splits.train])
        y = [ex.labels[0] == "negative" for ex in splits.train]
        pred = LogisticRegression(max_iter=2000, C=4.0).fit(x, y).predict(vec.transform(texts))
        return texts, truth, np.asarray(pred, dtype=bool)
    from cotune.artifact import load_artifact

    preds = load_artifact(artifact).predict_text(texts, batch_size=64)
    return texts, truth, np.array([p.labels[0] == "negative" for p in preds])


# ------------------------------------------------------------------------------ detection


def window_counts(
    rng: np.random.Generator,
    days: float,
    truth: np.ndarray,
    pred: np.ndarray,
    surge: tuple[float, float, float] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 5-minute window: volume, negatives the model saw, true negatives."""
    n_win = int(days * DAY / WINDOW_S)
    starts = np.arange(n_win) * WINDOW_S
    share = BASE * (1 + 0.15 * np.sin(2 * math.pi * starts / DAY))
    volume = rng.poisson(WINDOW_S, n_win)  # one event per second
    if surge is not None:  # the fraction of each window inside the surge
        s0, s1, mult = surge
        inside = np.clip(np.minimum(starts + WINDOW_S, s1) - np.maximum(starts, s0), 0, None)
        share = share * (1 + (mult - 1) * inside / WINDOW_S)
    oracle = rng.binomial(volume, np.minimum(share, 1.0))
    # each event is a text drawn (with replacement) from the held-out pool of its true label, so
    # the count the model calls negative is binomial in the pool's rates: drawing the texts one
    # by one gives the same distribution, thousands of times slower
    neg_hit, pos_hit = float(pred[truth].mean()), float(pred[~truth].mean())
    model = rng.binomial(oracle, neg_hit) + rng.binomial(volume - oracle, pos_hit)
    return volume, model, oracle


def run_detector(det_cfg: Any, volume: np.ndarray, negatives: np.ndarray) -> list[int]:
    """Windows that alert, as the engine decides them for one series."""
    from cotune.apps.monitor.detector import Detector, cooled_down, new_state

    det, st, out = Detector(det_cfg), new_state(), []
    cooldown = 60 * 60 / WINDOW_S
    for w in range(len(volume)):
        v = det.judge(st, w, int(volume[w]), int(negatives[w]))
        if v.surge and cooled_down(st, w, v.severity, cooldown):
            st["last_alert_win"], st["last_severity"] = w, v.severity
            out.append(w)
    return out


DETECTORS: dict[str, dict[str, Any]] = {
    "beta-binomial": {"method": "beta-binomial"},
    "cusum": {"method": "cusum"},
    "threshold-0.45": {"method": "threshold", "threshold": 0.45},
    "threshold-0.50": {"method": "threshold", "threshold": 0.50},
}


def detect(truth: np.ndarray, pred: np.ndarray, seeds: int, flat_days: float) -> dict[str, Any]:
    from cotune.apps.monitor.config import DetectorConfig

    cells: dict[str, Any] = {}
    for feed in ("model", "oracle"):
        # streams are drawn once per seed and shared by every detector (paired comparison)
        surges: list[tuple[float, float, float, int, np.ndarray, np.ndarray]] = []
        for mult in (1.5, 2.0, 3.0):
            for minutes in (15, 30, 60):
                for seed in range(seeds):
                    rng = np.random.default_rng([seed, int(mult * 10), minutes])
                    start = DAY + rng.uniform(0, DAY - 2 * 3600)
                    surge = (start, start + minutes * 60, mult)
                    vol, model, oracle = window_counts(rng, 2.0, truth, pred, surge)
                    surges.append(
                        (mult, minutes, start, seed, vol, model if feed == "model" else oracle)
                    )
        flats = []
        for seed in range(seeds):
            rng = np.random.default_rng([seed, 999])
            vol, model, oracle = window_counts(rng, flat_days, truth, pred, None)
            flats.append((vol, model if feed == "model" else oracle))
        for name, options in DETECTORS.items():
            cfg = DetectorConfig(**options)
            rows: dict[str, Any] = {}
            for mult, minutes, start, _seed, vol, neg in surges:
                end = start + minutes * 60
                alerts = run_detector(cfg, vol, neg)
                hits = [w for w in alerts if w * WINDOW_S < end and (w + 1) * WINDOW_S > start]
                key = f"x{mult:g} {minutes}min"
                cell = rows.setdefault(key, {"streams": 0, "detected": 0, "delays_min": []})
                cell["streams"] += 1
                if hits:
                    cell["detected"] += 1
                    cell["delays_min"].append(((hits[0] + 1) * WINDOW_S - start) / 60)
            for cell in rows.values():
                cell["recall"] = cell["detected"] / cell["streams"]
                d = cell.pop("delays_min")
                cell["median_delay_min"] = float(np.median(d)) if d else None
                cell["median_delay_windows"] = float(np.median(d)) * 60 / WINDOW_S if d else None
            # warm-up: the first simulated day is baseline-building, as in the surge streams
            false = sum(
                sum(1 for w in run_detector(cfg, vol, neg) if w * WINDOW_S >= DAY)
                for vol, neg in flats
            )
            rows["flat"] = {
                "streams": len(flats),
                "days": len(flats) * (flat_days - 1),
                "false_alarms": false,
                "false_alarms_per_day": false / (len(flats) * (flat_days - 1)),
            }
            cells[f"{name} / {feed}"] = rows
    return cells


def detect_table(cells: dict[str, Any]) -> str:
    conds = [f"x{m:g} {d}min" for m in (1.5, 2.0, 3.0) for d in (15, 30, 60)]
    head = "| detector / feed | " + " | ".join(conds) + " | false alarms / day |\n"
    head += "|---" * (len(conds) + 2) + "|\n"
    lines = []
    for name, rows in cells.items():
        parts = []
        for c in conds:
            r = rows[c]
            delay = r["median_delay_windows"]
            parts.append(
                f"{r['recall']:.2f} ({delay:.1f} w)" if delay is not None else f"{r['recall']:.2f}"
            )
        lines.append(
            f"| {name} | " + " | ".join(parts) + f" | {rows['flat']['false_alarms_per_day']:.2f} |"
        )
    return head + "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ throughput


class LookupScorer:
    """Scores by looking texts up in precomputed model outputs: the store, windows and detector
    run for real while the model costs nothing (for the long replay's memory)."""

    def __init__(self, table: dict[str, tuple[str, float, float]], default_topic: str) -> None:
        self.table, self.default_topic = table, default_topic

    def score(self, events: list[Any]) -> list[Any]:
        from cotune.apps.monitor.scoring import Scored

        out = []
        for e in events:
            sentiment, p_neg, score = self.table[e.text]
            out.append(Scored(e, sentiment, p_neg, score, e.topic or self.default_topic, []))
        return out


def make_events(texts: list[str], n: int, seed: int, topics: int = 5) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(texts), n)
    top = rng.integers(0, topics, n)
    return [
        {"id": f"{seed}-{i}", "ts": 1_764_000_000 + i, "text": texts[j], "topic": f"t{t}"}
        for i, (j, t) in enumerate(zip(idx, top, strict=True))
    ]


def monitor_cfg(
    folder: Path, url: str | None = None, threads: int = 2, artifact: Path | None = None
) -> Any:
    from cotune.apps.monitor.config import MonitorConfig

    cfg = MonitorConfig.model_validate(
        {
            "models": {
                "sentiment": str(artifact or ARTIFACT),
                "batch_size": 64,
                "threads": threads,
            },
            "alerts": {"sinks": []},
            "store": {"url": url},
        }
    )
    cfg.folder = folder
    return cfg


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def throughput(texts: list[str], n_events: int, long_events: int, batch: int) -> dict[str, Any]:
    from cotune.apps.monitor.engine import Monitor
    from cotune.apps.monitor.events import event_from
    from cotune.apps.monitor.scoring import Scorer

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = monitor_cfg(Path(tmp))
        scorer = Scorer(cfg.models, cfg.events)
        monitor = Monitor(cfg, scorer)
        events = [event_from(r, 5000) for r in make_events(texts, n_events, 1)]
        t0 = time.perf_counter()
        for b in range(0, len(events), batch):
            monitor.ingest(events[b : b + batch])
        wall = time.perf_counter() - t0
        out["model_scored_and_stored"] = {
            "events": n_events,
            "batch": batch,
            "s": wall,
            "events_per_s": n_events / wall,
        }
        t0 = time.perf_counter()
        scorer.score(events[: min(1000, n_events)])
        score_only = time.perf_counter() - t0
        out["model_scoring_only"] = {
            "events": min(1000, n_events),
            "events_per_s": min(1000, n_events) / score_only,
        }
        preds = scorer.sentiment.predict_text(sorted(set(texts)), batch_size=64)
        table = {
            t: scorer.map.read(p.probs) for t, p in zip(sorted(set(texts)), preds, strict=True)
        }
        monitor.close()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = monitor_cfg(Path(tmp))
        monitor = Monitor(cfg, LookupScorer(table, "all"))  # type: ignore[arg-type]
        samples = []
        start_rss = rss_mb()
        t0 = time.perf_counter()
        step = max(long_events // 20, batch)
        done = 0
        while done < long_events:
            rows = make_events(texts, min(step, long_events - done), 7)
            for r in rows:  # continue the clock and ids across chunks
                i = int(r["id"].split("-")[1]) + done
                r["id"], r["ts"] = f"L-{i}", 1_764_000_000 + i
            events = [event_from(r, 5000) for r in rows]
            for b in range(0, len(events), batch):
                monitor.ingest(events[b : b + batch])
            done += len(events)
            samples.append(
                {
                    "events": done,
                    "rss_mb": round(rss_mb(), 1),
                    "s": round(time.perf_counter() - t0, 1),
                }
            )
        wall = time.perf_counter() - t0
        out["long_replay_lookup_scores"] = {
            "events": long_events,
            "s": wall,
            "events_per_s": long_events / wall,
            "rss_start_mb": round(start_rss, 1),
            "rss_samples": samples,
            "series_state_rows": monitor.store.engine.connect()
            .exec_driver_sql("select count(*) from series_state")
            .scalar(),
            "store_mb": round(Path(tmp, "monitor.db").stat().st_size / 2**20, 1),
        }
        monitor.close()
    return out


# ------------------------------------------------------------------------------ redis workers

WORKER = r"""
import sys, threading, time, json
import torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[4])
from monitor import monitor_cfg
from cotune.apps.monitor.config import SourceConfig
from cotune.apps.monitor.engine import Monitor
from cotune.apps.monitor.sources import RedisSource
from pathlib import Path
cfg = monitor_cfg(Path(sys.argv[1]), sys.argv[2], threads=1, artifact=Path(sys.argv[6]))
src_cfg = SourceConfig(
    type="redis", redis_url=sys.argv[3], stream="bench", consumer=sys.argv[5], block_ms=200
)
src = RedisSource(src_cfg, 64, 5000)
mon = Monitor(cfg)
print("ready", flush=True)
stop = threading.Event()
t = threading.Thread(target=src.run, args=(mon, stop), daemon=True); t.start()
sys.stdin.readline(); stop.set(); t.join(30)
"""


def redis_workers(texts: list[str], n_events: int) -> dict[str, Any]:
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        return {"skipped": "no redis-server"}
    out: dict[str, Any] = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp, socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            server = subprocess.Popen(
                [binary, "--port", str(port), "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            )
            url = f"redis://127.0.0.1:{port}/0"
            r = redis.Redis.from_url(url)
            for _ in range(100):
                try:
                    r.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.1)
            store = f"sqlite:///{tmp}/monitor.db"
            procs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        WORKER,
                        tmp,
                        store,
                        url,
                        str(ROOT / "bench"),
                        f"w{i}",
                        str(ARTIFACT),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for i in range(workers)
            ]
            for p in procs:
                assert p.stdout is not None and p.stdout.readline().strip() == "ready"
            rows = make_events(texts, n_events, 3)
            t0 = time.perf_counter()
            pipe = r.pipeline()
            for row in rows:
                pipe.xadd("bench", {"event": json.dumps(row)})
            pipe.execute()
            from sqlalchemy import create_engine, text

            engine = create_engine(store)
            while True:
                with engine.connect() as c:
                    n = c.execute(text("select count(*) from events")).scalar()
                if n >= n_events:
                    break
                time.sleep(0.2)
            wall = time.perf_counter() - t0
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("\n")
                p.stdin.flush()
                p.wait(60)
            out[f"{workers}_worker"] = {
                "events": n_events,
                "s": wall,
                "events_per_s": n_events / wall,
                "stored": int(n),
            }
            engine.dispose()
            server.terminate()
            server.wait(10)
    return out


# ------------------------------------------------------------------------------ financial set

FIN = ROOT / "examples" / "finance-sentiment"


def _rows(name: str) -> list[dict[str, str]]:
    return [json.loads(x) for x in (FIN / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def _scores(predictor: Any, rows: list[dict[str, str]]) -> dict[str, Any]:
    """Accuracy per language, on the rows whose label the model has (a 2-class model is only
    asked about negative/positive rows), and macro-F1 over those labels."""
    from sklearn.metrics import f1_score

    labels = set(predictor.meta.labels)
    keep = [r for r in rows if r["label"] in labels]
    preds = [p.labels[0] for p in predictor.predict_text([r["text"] for r in keep], batch_size=32)]
    out: dict[str, Any] = {"labels": sorted(labels)}
    for lang in ("en", "zh", "all"):
        idx = [i for i, r in enumerate(keep) if lang == "all" or r["lang"] == lang]
        truth = [keep[i]["label"] for i in idx]
        got = [preds[i] for i in idx]
        out[lang] = {
            "n": len(idx),
            "accuracy": float(np.mean([a == b for a, b in zip(truth, got, strict=True)])),
            "macro_f1": float(f1_score(truth, got, average="macro")),
        }
    return out


def finance(epochs: float) -> dict[str, Any]:
    from cotune.artifact import load_artifact
    from cotune.config.schema import RunConfig
    from cotune.recipes.finetune import finetune

    train, test = _rows("train"), _rows("test")
    out: dict[str, Any] = {"train": len(train), "test": len(test)}
    rt = load_artifact(ARTIFACT)
    out["rt_polarity_as_is"] = _scores(rt, test)
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "train_binary.jsonl"
        binary.write_text(
            "".join(
                json.dumps(r, ensure_ascii=False) + "\n" for r in train if r["label"] != "neutral"
            ),
            encoding="utf-8",
        )
        runs = {
            # the rt-polarity model, fine-tuned further on the financial training clauses
            "rt_polarity_finetuned_on_fin": (str(ARTIFACT), binary),
            # minilm-l6 fine-tuned on the financial set alone, three classes
            "minilm_3class_fin_only": ("minilm-l6", FIN / "train.jsonl"),
        }
        for name, (backbone, data) in runs.items():
            cfg = RunConfig.model_validate(
                {
                    "name": name,
                    "task": "sequence-classification",
                    "data": {"train": str(data), "dev": str(data), "test": str(FIN / "test.jsonl")}
                    if backbone == "minilm-l6"
                    else {"train": str(data), "dev": str(data)},
                    "model": {"backbone": backbone, "max_length": 64},
                    "train": {
                        "epochs": epochs,
                        "lr": 5e-5,
                        "batch_size": 16,
                        "seed": 23,
                        "threads": 2,
                    },
                    "tracking": {"backend": "none"},
                    "output_dir": tmp,
                }
            )
            t0 = time.perf_counter()
            folder = finetune(cfg, progress=False)
            out[name] = {
                **_scores(load_artifact(folder), test),
                "train_s": time.perf_counter() - t0,
            }
    return out


def finance_table(res: dict[str, Any]) -> str:
    lines = [
        "| model | labels | en accuracy | zh accuracy | all accuracy | all macro-F1 |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("rt_polarity_as_is", "rt_polarity_finetuned_on_fin", "minilm_3class_fin_only"):
        r = res[name]
        lines.append(
            f"| {name} | {'/'.join(r['labels'])} | {r['en']['accuracy']:.3f} (n={r['en']['n']}) | "
            f"{r['zh']['accuracy']:.3f} (n={r['zh']['n']}) | {r['all']['accuracy']:.3f} | "
            f"{r['all']['macro_f1']:.3f} |"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ main


def merge(part: str, value: Any) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    from machine import machine  # type: ignore[import-not-found]

    data[part] = value
    data["machine"] = machine()
    data["load_average_at_end"] = os.getloadavg()  # what else the machine was doing
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, RESULTS)


def main() -> None:
    global ARTIFACT
    sys.path.insert(0, str(ROOT / "bench"))
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("part", choices=["detect", "throughput", "redis", "finance", "all"])
    ap.add_argument("--epochs", type=float, default=4)
    ap.add_argument("--artifact", type=Path, default=ARTIFACT, help="sentiment artifact")
    ap.add_argument("--classifier", choices=["artifact", "tfidf"], default="artifact")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--flat-days", type=float, default=8.0)
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--long", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    ARTIFACT = args.artifact.resolve()
    texts, truth, pred = held_out(ARTIFACT, args.classifier)
    acc = float((truth == pred).mean())
    print(
        f"held-out texts {len(texts)}, classifier accuracy {acc:.3f}, "
        f"recall(neg) {pred[truth].mean():.3f}, positives as negative {pred[~truth].mean():.3f}"
    )
    if args.part in ("detect", "all"):
        t0 = time.perf_counter()
        cells = detect(truth, pred, args.seeds, args.flat_days)
        print(detect_table(cells))
        merge(
            "detect",
            {
                "seeds": args.seeds,
                "flat_days": args.flat_days,
                "classifier_accuracy": acc,
                "neg_recall": float(pred[truth].mean()),
                "pos_as_neg": float(pred[~truth].mean()),
                "held_out": len(texts),
                "cells": cells,
                "s": time.perf_counter() - t0,
            },
        )
    if args.part in ("throughput", "all"):
        res = throughput(texts, args.events, args.long, args.batch)
        print(json.dumps(res, indent=1))
        merge("throughput", res)
    if args.part in ("redis", "all"):
        res = redis_workers(texts, args.events)
        print(json.dumps(res, indent=1))
        merge("redis", res)
    if args.part in ("finance", "all"):
        res = finance(args.epochs)
        print(finance_table(res))
        merge("finance", res)
    print("peak RSS (MB)", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


if __name__ == "__main__":
    main()
