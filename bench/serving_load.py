"""Load bench of `cotune serve` against a plain `transformers.pipeline` behind FastAPI.

Every server is its own uvicorn process on a free 127.0.0.1 port (nothing else is ever
contacted). For each backend and each concurrency level, N closed-loop clients (each sends its
next request when the previous answer arrives) hammer the server for `--duration` seconds or
`--max-requests` requests, whichever comes first; the run stops by itself and kills every server
it started, also on errors and Ctrl-C.

Backends:
  torch      `cotune serve ARTIFACT --backend torch`     (micro-batching, PyTorch)
  onnx-int8  `cotune serve ARTIFACT --backend onnx-int8` (micro-batching, onnxruntime int8;
             exported into ARTIFACT/onnx/ first if missing)
  onnx       the same in fp32
  pipeline   `transformers.pipeline("token-classification", model=ARTIFACT,
             aggregation_strategy="first")` behind the simplest FastAPI endpoint (a sync `def`,
             which FastAPI runs in its thread pool), one text per request

The clients speak minimal HTTP/1.1 over keep-alive asyncio streams rather than httpx: they share
the CPU with the servers (2 cores here), and a light client takes less of it from the server.
Texts are WNUT-16 tweets (the shipped catalog source), the same sequence for every backend.

Writes OUT.json and OUT.md (requests/s, p50/p90/p99 latency, errors, mean batch size) and the
verdict on the target: at the highest concurrency, >= 3x the pipeline's requests/s, p99 < 1 s.

    python bench/serving_load.py --artifact runs/wnut16-full            # 3 x 3 x 30 s, ~7 min
    python bench/serving_load.py --artifact A --duration 2 --out /tmp/s  # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

HOST = "127.0.0.1"  # loopback only, by construction: there is no flag to change it
COTUNE_BACKENDS = ("torch", "onnx", "onnx-int8")
ALL_BACKENDS = (*COTUNE_BACKENDS, "pipeline")
MODEL = "bench"
STARTED: list[subprocess.Popen[bytes]] = []  # killed on the way out, whatever happens


# ---------------------------------------------------------------------------- baseline server


class BaselineBody(BaseModel):  # module level: FastAPI must resolve the annotation by name
    text: str


def serve_baseline(folder: str, port: int, threads: int | None) -> None:
    """The comparison: what one writes first to put a pipeline on the network."""
    import torch
    import uvicorn
    from fastapi import FastAPI
    from transformers import pipeline

    if threads:
        torch.set_num_threads(threads)
    pipe = pipeline("token-classification", model=folder, aggregation_strategy="first")
    app = FastAPI()

    @app.post("/predict")
    def predict(body: BaselineBody) -> list[dict[str, Any]]:
        return [
            {
                "label": e["entity_group"],
                "start": int(e["start"]),
                "end": int(e["end"]),
                "score": float(e["score"]),
            }
            for e in pipe(body.text)
        ]

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


# ---------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    backend: str
    proc: subprocess.Popen[bytes]
    port: int
    path: str  # where predictions are POSTed
    ready_path: str
    log: Path


def start_server(backend: str, artifact: Path, args: argparse.Namespace, log: Path) -> Server:
    port = free_port()
    if backend == "pipeline":
        command = [sys.executable, __file__, "--serve-baseline", str(artifact), "--port", str(port)]
        if args.baseline_threads:
            command += ["--baseline-threads", str(args.baseline_threads)]
        path, ready = "/predict", "/healthz"
    else:
        command = [sys.executable, "-m", "cotune.cli.main", "serve", f"{MODEL}={artifact}"]
        command += ["--backend", backend, "--port", str(port), "--log-level", "warning"]
        command += ["--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
        command += ["--max-queue", "100000", "--max-connections", "4096"]
        if args.threads:
            command += ["--threads", str(args.threads)]
        path, ready = f"/v1/models/{MODEL}/predict", "/readyz"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    STARTED.append(proc)
    return Server(backend, proc, port, path, ready, log)


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=30)


async def wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.backend} server died:\n{server.log.read_text()[-3000:]}")
        with contextlib.suppress(OSError, asyncio.TimeoutError, ConnectionError):
            conn = await Conn.open(server.port)
            status, _ = await asyncio.wait_for(conn.request("GET", server.ready_path), 5)
            conn.close()
            if status == 200:
                return
        await asyncio.sleep(0.25)
    raise RuntimeError(f"{server.backend} server not ready after {timeout:.0f} s")


# ---------------------------------------------------------------------------- HTTP client


class Conn:
    """One keep-alive HTTP/1.1 connection; answers must carry Content-Length (uvicorn's do)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int):
        self.reader, self.writer, self.port = reader, writer, port

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer, port)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
        if method == "POST":
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = None
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ConnectionError("answer without Content-Length")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sent: int = 0


async def client_loop(
    server: Server,
    bodies: Sequence[bytes],
    offset: int,
    stop_at: float,
    budget: list[int],
    tally: Tally,
    request_timeout: float,
) -> None:
    conn: Conn | None = None
    i = offset
    while time.monotonic() < stop_at and budget[0] > 0:
        budget[0] -= 1
        body = bodies[i % len(bodies)]
        i += 1
        start = time.perf_counter()
        try:
            if conn is None:
                conn = await Conn.open(server.port)
            status, _ = await asyncio.wait_for(
                conn.request("POST", server.path, body), request_timeout
            )
        except (TimeoutError, OSError, ConnectionError, asyncio.IncompleteReadError) as e:
            tally.errors[type(e).__name__] += 1
            if conn is not None:
                conn.close()
            conn = None
            continue
        tally.sent += 1
        if status == 200:
            tally.latencies.append(time.perf_counter() - start)
        else:
            tally.errors[f"HTTP {status}"] += 1
    if conn is not None:
        conn.close()


async def run_level(
    server: Server, bodies: Sequence[bytes], clients: int, duration: float, max_requests: int
) -> dict[str, Any]:
    tally = Tally()
    budget = [max_requests]
    start = time.monotonic()
    stop_at = start + duration
    step = max(1, len(bodies) // clients)
    await asyncio.gather(
        *(
            client_loop(server, bodies, c * step, stop_at, budget, tally, request_timeout=30)
            for c in range(clients)
        )
    )
    elapsed = time.monotonic() - start
    lat = np.array(tally.latencies) * 1000 if tally.latencies else np.array([np.nan])
    return {
        "clients": clients,
        "seconds": round(elapsed, 3),
        "ok": len(tally.latencies),
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors),
        "requests_per_s": round(len(tally.latencies) / elapsed, 2),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p90_ms": round(float(np.percentile(lat, 90)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "max_ms": round(float(np.max(lat)), 2),
    }


async def batch_stats(server: Server) -> tuple[float, float]:
    """(sum, count) of the server's batch-size histogram; (0, 0) for the pipeline."""
    if server.backend == "pipeline":
        return 0.0, 0.0
    conn = await Conn.open(server.port)
    _, body = await conn.request("GET", "/metrics")
    conn.close()
    text = body.decode()
    total = re.search(rf'^cotune_batch_size_sum{{model="{MODEL}"}} (\S+)$', text, re.M)
    count = re.search(rf'^cotune_batch_size_count{{model="{MODEL}"}} (\S+)$', text, re.M)
    return (float(total.group(1)) if total else 0.0), (float(count.group(1)) if count else 0.0)


async def sample_spans(
    server: Server, texts: Sequence[str]
) -> list[list[tuple[str, int, int]] | None]:
    """Entity spans of a few texts, to check every backend answers the same question."""
    conn = await Conn.open(server.port)
    out: list[list[tuple[str, int, int]] | None] = []
    for text in texts:
        status, body = await conn.request("POST", server.path, json.dumps({"text": text}).encode())
        if status != 200:
            out.append(None)  # counts as a disagreement
            continue
        answer = json.loads(body)
        entities = answer if server.backend == "pipeline" else answer["predictions"][0]["entities"]
        out.append([(e["label"], e["start"], e["end"]) for e in entities])
    conn.close()
    return out


async def bench_backend(
    backend: str, artifact: Path, texts: Sequence[str], args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    server = start_server(backend, artifact, args, logs / f"{backend}.log")
    try:
        t0 = time.monotonic()
        await wait_ready(server, args.start_timeout)
        startup = time.monotonic() - t0
        bodies = [json.dumps({"text": t}).encode() for t in texts]
        top = max(args.concurrency)
        await run_level(server, bodies, top, args.warmup, args.max_requests)  # not counted
        levels = []
        for clients in args.concurrency:
            before = await batch_stats(server)
            level = await run_level(server, bodies, clients, args.duration, args.max_requests)
            after = await batch_stats(server)
            batches = after[1] - before[1]
            level["mean_batch"] = round((after[0] - before[0]) / batches, 2) if batches else None
            levels.append(level)
            print(f"  {backend:9s} {clients:3d} clients: {fmt_level(level)}", flush=True)
        spans = await sample_spans(server, texts[: args.check_texts])
        return {
            "backend": backend,
            "startup_s": round(startup, 1),
            "levels": levels,
            "spans": spans,
        }
    finally:
        stop_server(server)


def fmt_level(level: dict[str, Any]) -> str:
    kinds = f" {level['error_kinds']}" if level["errors"] else ""
    return (
        f"{level['requests_per_s']:8.1f} req/s  p50 {level['p50_ms']:7.1f} ms  "
        f"p99 {level['p99_ms']:7.1f} ms  errors {level['errors']}{kinds}"
    )


# ---------------------------------------------------------------------------- inputs, report


def load_texts(path: Path | None, n: int, seed: int) -> tuple[list[str], str]:
    if path is not None:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        texts = [json.loads(ln)["text"] if path.suffix == ".jsonl" else ln for ln in lines]
        source = str(path)
    else:
        from cotune.data.load import load_corpus

        corpus = load_corpus("wnut16")
        texts = [" ".join(ex.tokens) for ex in corpus.examples]  # type: ignore[union-attr]
        source = "wnut16 (cotune catalog), tokens joined by spaces"
    random.Random(seed).shuffle(texts)
    return texts[:n], source


def ensure_onnx(artifact: Path, backends: Sequence[str]) -> None:
    if not {"onnx", "onnx-int8"} & set(backends):
        return
    from cotune.export.pipeline import export_artifact
    from cotune.export.runtime import onnx_file

    if not onnx_file(artifact, int8=True).exists() or not onnx_file(artifact, int8=False).exists():
        print(f"exporting {artifact} to ONNX (fp32 + int8), once ...", flush=True)
        export_artifact(artifact, quantize="int8", force=True)  # the gate's drop is in the card


def verdict(results: list[dict[str, Any]], top: int) -> dict[str, Any]:
    by = {r["backend"]: {lv["clients"]: lv for lv in r["levels"]} for r in results}
    out: dict[str, Any] = {"clients": top}
    base = by.get("pipeline", {}).get(top)
    for backend in COTUNE_BACKENDS:
        level = by.get(backend, {}).get(top)
        if level is None or base is None or not base["requests_per_s"]:
            continue
        speedup = level["requests_per_s"] / base["requests_per_s"]
        out[backend] = {
            "speedup_vs_pipeline": round(speedup, 2),
            "p99_ms": level["p99_ms"],
            "errors": level["errors"],
            "target_met": bool(speedup >= 3 and level["p99_ms"] < 1000 and level["errors"] == 0),
        }
    return out


def agreement(results: list[dict[str, Any]]) -> dict[str, float]:
    spans = {r["backend"]: r.pop("spans") for r in results}
    ref = spans.get("pipeline")
    if ref is None or not ref:
        return {}
    return {
        b: round(sum(x == y for x, y in zip(s, ref, strict=True)) / len(ref), 4)
        for b, s in spans.items()
        if b != "pipeline"
    }


def markdown(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [
        "# Serving load bench",
        "",
        f"Artifact `{cfg['artifact']}`; {cfg['n_texts']} texts from {cfg['texts']}; "
        f"{cfg['duration_s']} s per level after {cfg['warmup_s']} s warm-up; closed-loop clients "
        f"on the same machine ({report['env']['cpus']} CPUs) over loopback. cotune: "
        f"max_batch {cfg['max_batch']}, max_wait {cfg['max_wait_ms']} ms.",
        "",
        "| backend | clients | req/s | p50 ms | p90 ms | p99 ms | errors | mean batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        for lv in r["levels"]:
            lines.append(
                f"| {r['backend']} | {lv['clients']} | {lv['requests_per_s']:.1f} | "
                f"{lv['p50_ms']:.1f} | {lv['p90_ms']:.1f} | {lv['p99_ms']:.1f} | {lv['errors']} | "
                f"{lv['mean_batch'] if lv['mean_batch'] is not None else '-'} |"
            )
    v = report["verdict"]
    lines += ["", f"Target at {v['clients']} clients: >= 3x the pipeline's req/s, p99 < 1 s.", ""]
    for backend in COTUNE_BACKENDS:
        if backend in v:
            x = v[backend]
            lines.append(
                f"- {backend}: {x['speedup_vs_pipeline']}x, p99 {x['p99_ms']} ms, "
                f"errors {x['errors']}: **{'met' if x['target_met'] else 'not met'}**"
            )
    if report["agreement_with_pipeline"]:
        lines += ["", "Same entity spans as the pipeline on the check texts:"]
        lines += [f"- {b}: {share:.1%}" for b, share in report["agreement_with_pipeline"].items()]
    return "\n".join(lines) + "\n"


def default_threads() -> int:
    from cotune.serving.settings import default_threads as cotune_default

    return cotune_default()


def environment() -> dict[str, Any]:
    import onnxruntime
    import torch
    import transformers

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--artifact", type=Path, help="cotune NER artifact folder (MiniLM-L6).")
    p.add_argument("--backends", nargs="+", default=["torch", "onnx-int8", "pipeline"])
    p.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32])
    p.add_argument("--duration", type=float, default=30.0, help="Seconds per level.")
    p.add_argument("--warmup", type=float, default=5.0, help="Uncounted seconds per backend.")
    p.add_argument("--max-requests", type=int, default=200_000, help="Cap per level.")
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--threads", type=int, help="cotune inference threads (default: cores - 1).")
    p.add_argument(
        "--baseline-threads", type=int, help="torch threads of the pipeline (default: torch's)."
    )
    p.add_argument("--texts", type=Path, help="Texts (.txt lines or .jsonl with text).")
    p.add_argument("--n-texts", type=int, default=1000)
    p.add_argument("--check-texts", type=int, default=50, help="Texts compared across backends.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start-timeout", type=float, default=300.0)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "serving")
    p.add_argument("--serve-baseline", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not args.serve_baseline:
        if args.artifact is None:
            p.error("--artifact is required")
        unknown = set(args.backends) - set(ALL_BACKENDS)
        if unknown:
            p.error(f"unknown backends {sorted(unknown)}; choose from {ALL_BACKENDS}")
        if args.duration <= 0 or args.max_requests < 1 or min(args.concurrency) < 1:
            p.error("--duration, --max-requests and --concurrency must be positive")
    return args


@contextlib.contextmanager
def hard_stop(seconds: float) -> Iterator[None]:
    """A last guard: the bench ends by itself even if a server hangs in a way nothing catches."""

    def expire(*_: Any) -> None:
        raise TimeoutError(f"the bench exceeded its {seconds:.0f} s budget")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(int(seconds))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve_baseline:
        serve_baseline(args.serve_baseline, args.port, args.baseline_threads)
        return
    artifact = args.artifact.resolve()
    texts, source = load_texts(args.texts, args.n_texts, args.seed)
    ensure_onnx(artifact, args.backends)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="cotune-serving-bench-"))  # server logs, not results
    print(f"server logs in {logs}", flush=True)
    per_backend = args.start_timeout + args.warmup + len(args.concurrency) * (args.duration + 40)
    budget = len(args.backends) * per_backend + 120
    results = []
    try:
        with hard_stop(budget):
            for backend in args.backends:
                print(f"{backend}: starting server ...", flush=True)
                results.append(asyncio.run(bench_backend(backend, artifact, texts, args, logs)))
    finally:
        for proc in STARTED:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    top = max(args.concurrency)
    report = {
        "config": {
            "artifact": str(artifact),
            "texts": source,
            "n_texts": len(texts),
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "max_requests": args.max_requests,
            "concurrency": args.concurrency,
            "max_batch": args.max_batch,
            "max_wait_ms": args.max_wait_ms,
            "threads": args.threads or default_threads(),
            "baseline_threads": args.baseline_threads,
        },
        "env": environment(),
        "agreement_with_pipeline": agreement(results),
        "results": results,
        "verdict": verdict(results, top),
    }
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    print(f"written {args.out.with_suffix('.json')} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
