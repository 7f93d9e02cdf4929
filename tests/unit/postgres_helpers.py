"""A real, throwaway PostgreSQL server for the tests of stores that take a SQLAlchemy URL: Debian's
`postgresql` binaries (.ci/run installs them), a fresh cluster in a temporary folder on a free
loopback port, one empty database per test. As root (CI), the server runs as the `postgres`
user, which PostgreSQL requires. A test that needs it fails in CI when the binaries or the
driver (psycopg) are missing and skips only on a developer's machine without them."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser_helpers import free_port

PG_ROOT = Path("/usr/lib/postgresql")


def _bin() -> Path | None:
    versions = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


def require_postgres() -> Path:
    bindir = _bin()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        bindir = None
    if bindir is not None:
        return bindir
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL (Debian's postgresql) or psycopg is missing: .ci/run installs them")
    pytest.skip("no PostgreSQL server binaries or psycopg on this machine")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, int]]:
    """(host, port) of a server started for this test session, stopped after it."""
    bindir = require_postgres()
    root = Path(tempfile.mkdtemp(prefix="cotune-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    log = root / "server.log"

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, (
            args,
            done.stdout,
            done.stderr,
            log.read_text() if log.exists() else "",
        )

    run(str(bindir / "initdb"), "-D", str(data), "-U", "cotune", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    try:
        yield "127.0.0.1", port
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: tuple[str, int]) -> str:
    """A SQLAlchemy URL of a new, empty database on the session's server."""
    import psycopg

    host, port = postgres_server
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        host=host, port=port, user="cotune", dbname="postgres", autocommit=True
    ) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://cotune@{host}:{port}/{name}"
