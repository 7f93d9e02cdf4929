"""What the tests of live servers and pages share: a free loopback port, `cotune serve` started
as a user starts it (and stopped), and Debian's headless Chromium with the flags this closed
network needs. A page test fails in CI when Chromium is missing (.ci/run installs it) and skips
only on a developer's machine without it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it")
    pytest.skip("no chromium on this machine")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    url: str, proc: subprocess.Popen[bytes] | None, log: Path | None, timeout: float
) -> None:
    """Until GET /readyz answers 200; a server process that died fails with its log."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None:
            assert proc.poll() is None, log.read_text() if log else "the server exited"
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text() if log else "not ready in time"
        time.sleep(0.2)


@contextmanager
def serve_cli(
    specs: Sequence[str],
    *flags: str,
    log: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`cotune serve SPECS --port P --threads 1 FLAGS` in a subprocess: (process, base URL)."""
    port = free_port()
    command = [sys.executable, "-m", "cotune.cli.main", "serve", *specs]
    command += ["--port", str(port), "--threads", "1", *flags]
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            command, env={**os.environ, **(env or {})}, stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log, timeout)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
