"""Flower node authentication: only SuperNodes whose public key the server registered may join.

Each party holds an EC (P-384) private key in OpenSSH format and gives its public key to the
server operator, who registers it on the SuperLink (`flwr supernode register`, which cotune runs
for `--authorize KEY` and for every party of `simulate`). The SuperLink runs with
`--enable-supernode-auth` and refuses any other node.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cotune.errors import ConfigError
from cotune.federated.launch import BIN, CONNECTION, Processes, flwr_env


def node_keypair(folder: Path, name: str) -> tuple[Path, Path]:
    """(private key, public key) files for one party, OpenSSH format, P-384."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private, public = folder / f"{name}.key", folder / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    )
    return private, public


def register_nodes(
    procs: Processes, home: Path, public_keys: Sequence[Path], timeout: float = 120.0
) -> None:
    """Register SuperNode public keys on our SuperLink (through its Control API)."""
    running: list[tuple[Path, str, subprocess.Popen]] = []
    for i, key in enumerate(public_keys):
        if not key.exists():
            raise ConfigError("no such public key file", where=str(key), fix="check --authorize")
        name = f"register-{i}"
        cmd = [str(BIN / "flwr"), "supernode", "register", str(key), CONNECTION]
        running.append((key, name, procs.start(name, cmd, flwr_env(home))))
    for key, name, proc in running:
        code = proc.wait(timeout=timeout)
        procs.running.pop(name, None)
        if code != 0:
            log = (procs.logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")
            raise ConfigError(
                f"the SuperLink refused to register {key.name}: {log.strip()[-400:]}",
                where=str(key),
                fix="give an OpenSSH EC public key (ssh-keygen -t ecdsa -b 384)",
            )
