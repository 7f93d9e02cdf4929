"""Flower's processes, started and stopped by cotune: a SuperLink, SuperNodes, and `flwr run`.

Each process gets its own FLWR_HOME (Flower installs the app bundle there), its own free ports
on loopback unless told otherwise, and a log file under the run folder. The Flower app itself
is generated into the run folder (`RUN/flwr-app/pyproject.toml`): it names cotune's installed
ServerApp and ClientApp and carries the run's config path, so the repository's pyproject stays
untouched and several federations can run side by side.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotune.errors import ConfigError
from cotune.files import atomic_write_text

BIN = Path(sys.executable).parent
CONNECTION = "cotune"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(
    host: str, port: int, timeout: float, proc: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ConfigError(f"the process meant to listen on {host}:{port} exited early")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise ConfigError(f"nothing listens on {host}:{port} after {timeout:g}s")


@dataclass(frozen=True)
class Security:
    """TLS for the SuperLink (and its clients' trust), or plain text when asked for."""

    insecure: bool = False
    ca_cert: Path | None = None  # clients: verifies the SuperLink's certificate
    server_cert: Path | None = None
    server_key: Path | None = None
    node_auth: bool = False  # the SuperLink admits only registered SuperNode keys

    def superlink_args(self) -> list[str]:
        auth = ["--enable-supernode-auth"] if self.node_auth else []
        if self.insecure:
            return ["--insecure", *auth]
        if not (self.server_cert and self.server_key and self.ca_cert):
            raise ConfigError(
                "the SuperLink needs TLS certificate, key and CA files",
                fix="pass --ssl-certfile/--ssl-keyfile/--ssl-ca-certfile, or --insecure on a "
                "trusted network (loopback tests)",
            )
        return [
            "--ssl-certfile",
            str(self.server_cert),
            "--ssl-keyfile",
            str(self.server_key),
            "--ssl-ca-certfile",
            str(self.ca_cert),
            *auth,
        ]

    def supernode_args(self) -> list[str]:
        if self.insecure:
            return ["--insecure"]
        if not self.ca_cert:
            raise ConfigError(
                "the client needs the CA certificate that signed the SuperLink's certificate",
                fix="pass --root-certificates CA.pem, or --insecure on a trusted network",
            )
        return ["--root-certificates", str(self.ca_cert)]


def flwr_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "FLWR_HOME": str(home),
            "FLWR_TELEMETRY_ENABLED": "0",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


@dataclass
class Processes:
    """Processes this federation started; all are stopped on exit (their whole group).

    "Exit" includes a SIGTERM to this process (`kill`, a service manager stopping it): in the
    main thread it is turned into SystemExit for the duration, so the children, which run in
    their own sessions, are not left behind connected to the federation.
    """

    logs: Path
    running: dict[str, subprocess.Popen] = field(default_factory=dict)
    _sigterm: Any = field(default=None, init=False, repr=False)

    def start(self, name: str, cmd: Sequence[str], env: dict[str, str]) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        log.write(f"$ {shlex.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(cmd), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.running[name] = proc
        return proc

    def stop(self, name: str, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        proc = self.running.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)  # the process and the app processes it started
            proc.wait(timeout=grace)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)

    def stop_all(self) -> None:
        for name in list(self.running)[::-1]:
            self.stop(name)

    def __enter__(self) -> Processes:
        if threading.current_thread() is threading.main_thread():
            self._sigterm = signal.signal(signal.SIGTERM, _exit_on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop_all()
        finally:
            if self._sigterm is not None:
                signal.signal(signal.SIGTERM, self._sigterm)
                self._sigterm = None


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def superlink_cmd(host: str, port: int, security: Security) -> list[str]:
    return [
        str(BIN / "flower-superlink"),
        *security.superlink_args(),
        "--host",
        host,
        "--port",
        str(port),
        "--disable-runtime-dependency-installation",
    ]


def supernode_cmd(
    superlink: str,
    port: int,
    data: Path,
    party: str,
    security: Security,
    *,
    state_dir: Path,
    auth_key: Path | None = None,
) -> list[str]:
    node_config = f'data-path="{data.resolve()}" party="{party}" state-dir="{state_dir.resolve()}"'
    cmd = [
        str(BIN / "flower-supernode"),
        *security.supernode_args(),
        "--superlink",
        superlink,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--node-config",
        node_config,
    ]
    if auth_key is not None:
        cmd += ["--auth-supernode-private-key", str(auth_key)]
    return cmd


def write_app(run_dir: Path, config_path: Path, *, resume: bool) -> Path:
    """The Flower app bundle source for this run: cotune's apps plus this run's config."""
    app = run_dir / "flwr-app"
    app.mkdir(parents=True, exist_ok=True)
    text = f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "cotune-federation"
version = "1.0.0"
description = "cotune federated fine-tuning run (generated by cotune; edit the cotune config)"
license = "Apache-2.0"
dependencies = []

[tool.flwr.app]
publisher = "cotune"

[tool.flwr.app.components]
serverapp = "cotune.federated.flower_server:app"
clientapp = "cotune.federated.flower_client:app"

[tool.flwr.app.config]
cotune-config = "{config_path.resolve()}"
run-dir = "{run_dir.resolve()}"
resume = {"true" if resume else "false"}
"""
    atomic_write_text(app / "pyproject.toml", text)
    return app


def write_flwr_config(home: Path, address: str, security: Security) -> None:
    """The `flwr` CLI's connection to our SuperLink (in this run's own FLWR_HOME)."""
    lines = ["[superlink]", f'default = "{CONNECTION}"', "", f"[superlink.{CONNECTION}]"]
    lines.append(f'address = "{address}"')
    if security.insecure:
        lines.append("insecure = true")
    elif security.ca_cert is not None:
        lines.append(f'root-certificates = "{security.ca_cert.resolve()}"')
    home.mkdir(parents=True, exist_ok=True)
    atomic_write_text(home / "config.toml", "\n".join(lines) + "\n")


def submit_and_wait(
    procs: Processes,
    app: Path,
    home: Path,
    timeout: float,
    done: Path,
    *,
    name: str = "flwr-run",
    grace: float = 20.0,
) -> int:
    """`flwr run APP`, streaming the run's logs, until the run ends; returns the exit code.

    The run has ended when `done` (the ServerApp's last file) exists or `flwr run` exits; the
    log stream can lag behind the run by many seconds, so it gets `grace` seconds, then stops.
    """
    proc = procs.start(
        name, [str(BIN / "flwr"), "run", str(app), CONNECTION, "--stream"], flwr_env(home)
    )
    deadline = time.monotonic() + timeout
    while (code := proc.poll()) is None:
        if done.exists():
            try:
                return proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                procs.stop(name)
                return 0
        if time.monotonic() > deadline:
            procs.stop(name)
            raise ConfigError(
                f"the federation did not finish within {timeout:g}s",
                fix="see the logs in the run folder; continue it with --resume",
            )
        time.sleep(0.5)
    return code
