"""What the tests of live servers and pages share: a free loopback port, `cotune serve` started
as a user starts it (and stopped), and Debian's headless Chromium with the flags this closed
network needs. A page test fails in CI when Chromium is missing (.ci/run installs it) and skips
only on a developer's machine without it. `offline_page` is the page every page test drives: it
may reach only loopback, so a page that would fetch from a CDN fails its test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


@dataclass
class OfflinePage:
    """A Chromium page, what it requested, what was refused (not loopback) and its JS errors."""

    page: Any
    requested: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def offline_page(**page_options: Any) -> Iterator[OfflinePage]:
    """Headless Chromium (Playwright) with one page whose requests beyond loopback are aborted
    and recorded; `page_options` go to `new_page` (a viewport, say)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            view = OfflinePage(browser.new_page(**page_options))

            def only_loopback(route: Any) -> None:
                url = route.request.url
                view.requested.append(url)
                if urlsplit(url).hostname in ("127.0.0.1", "localhost"):
                    route.continue_()
                else:
                    view.refused.append(url)
                    route.abort()

            view.page.route("**/*", only_loopback)
            view.page.on("pageerror", lambda e: view.errors.append(str(e)))
            yield view
        finally:
            browser.close()
