"""The two ways to run a federation, over real Flower processes.

- `serve`: this machine is the server: a SuperLink, then the run (ServerApp) submitted to it;
  parties connect from elsewhere with `client` (`cotune federate server|client`).
- `simulate`: everything on this machine: the server's train split cut into N parties, one
  SuperNode per party reading only its own file, all on loopback (`cotune federate simulate`).
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from cotune.artifact.folder import discard_setup_only, prepare_output
from cotune.config.schema import DataConfig
from cotune.data import load_splits
from cotune.data.load import read_file
from cotune.errors import ConfigError
from cotune.federated.auth import node_keypair, register_nodes
from cotune.federated.certs import loopback_certificates
from cotune.federated.config import FederatedConfig
from cotune.federated.finish import RESULT_FILE
from cotune.federated.launch import (
    Processes,
    Security,
    flwr_env,
    free_port,
    submit_and_wait,
    superlink_cmd,
    supernode_cmd,
    wait_for_port,
    write_app,
    write_flwr_config,
)
from cotune.federated.parties import partition, partition_stats, write_parties
from cotune.files import atomic_write_text

log = logging.getLogger("cotune.federated")
START_TIMEOUT = 60.0


def absolute(cfg: FederatedConfig) -> FederatedConfig:
    """Paths made absolute: Flower runs the ServerApp in another process and folder."""
    data = cfg.data.model_copy(
        update={
            k: Path(v).resolve()
            for k in ("train", "dev", "test")
            if (v := getattr(cfg.data, k)) is not None
        }
    )
    if cfg.data.source and Path(cfg.data.source).exists():
        data = data.model_copy(update={"source": str(Path(cfg.data.source).resolve())})
    return cfg.model_copy(update={"data": data, "output_dir": cfg.output_dir.resolve()})


def prepare_run(
    cfg: FederatedConfig, *, resume: bool, overwrite: bool
) -> tuple[FederatedConfig, Path, Path]:
    """(absolute config, run folder, the config file the ServerApp reads)."""
    cfg = absolute(cfg)
    run_dir = cfg.output_dir / cfg.run_name()
    prepare_output(run_dir, cfg, resume=resume, overwrite=overwrite)
    path = run_dir / "federation.yaml"
    atomic_write_text(path, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    (run_dir / RESULT_FILE).unlink(missing_ok=True)
    return cfg, run_dir, path


def setup_guard(cfg: FederatedConfig, *, overwrite: bool) -> AbstractContextManager[None]:
    """Set-up that fails (data the server cannot read, too few examples to cut) leaves no
    run folder holding only the configs `prepare_run` wrote, which would refuse the rerun."""
    run_dir = absolute(cfg).output_dir / cfg.run_name()
    return discard_setup_only(run_dir, ("run_config.yaml", "federation.yaml"), overwrite=overwrite)


def start_superlink(
    procs: Processes, run_dir: Path, host: str, port: int, security: Security
) -> str:
    home = run_dir / "flwr" / "superlink"
    proc = procs.start("superlink", superlink_cmd(host, port, security), flwr_env(home))
    wait_for_port("127.0.0.1" if host in ("0.0.0.0", "::") else host, port, START_TIMEOUT, proc)
    return f"{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"


def cli_home(run_dir: Path, address: str, security: Security) -> Path:
    """FLWR_HOME of the `flwr` commands that talk to our SuperLink (run, supernode register)."""
    home = run_dir / "flwr" / "cli"
    write_flwr_config(home, address, security)
    return home


def run_and_collect(
    procs: Processes, run_dir: Path, config_path: Path, home: Path, *, resume: bool, timeout: float
) -> dict[str, Any]:
    app = write_app(run_dir, config_path, resume=resume)
    result = run_dir / RESULT_FILE
    code = submit_and_wait(procs, app, home, timeout, result)
    if not result.exists():
        raise ConfigError(
            f"the federation ended without a result (flwr run exit code {code})",
            where=str(run_dir),
            fix=f"see {run_dir / 'server.log'} and {run_dir / 'logs'}; continue with --resume",
        )
    out: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    return out


def serve(
    cfg: FederatedConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 9092,
    security: Security,
    authorize: Sequence[Path] = (),
    resume: bool = False,
    overwrite: bool = False,
    timeout: float = 24 * 3600.0,
) -> dict[str, Any]:
    """Run the server side until the last round; parties join with `cotune federate client`.

    With `authorize` (the parties' public keys) the SuperLink admits only those SuperNodes.
    """
    if authorize:
        security = replace(security, node_auth=True)
    with setup_guard(cfg, overwrite=overwrite):
        cfg, run_dir, config_path = prepare_run(cfg, resume=resume, overwrite=overwrite)
    with Processes(run_dir / "logs") as procs:
        address = start_superlink(procs, run_dir, host, port, security)
        home = cli_home(run_dir, address, security)
        if authorize:
            register_nodes(procs, home, list(authorize))
        return run_and_collect(procs, run_dir, config_path, home, resume=resume, timeout=timeout)


def simulate(
    cfg: FederatedConfig,
    *,
    parties: int | None = None,
    insecure: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    timeout: float = 24 * 3600.0,
) -> dict[str, Any]:
    """Cut the data into parties and run the federation over a real SuperLink + SuperNodes on
    loopback, with TLS from a throw-away CA and node authentication unless `insecure`."""
    if parties is not None:
        cfg = cfg.model_copy(
            update={"federation": cfg.federation.model_copy(update={"parties": parties})}
        )
    with setup_guard(cfg, overwrite=overwrite):
        cfg, run_dir, config_path = prepare_run(cfg, resume=resume, overwrite=overwrite)
        files = split_parties(cfg, run_dir / "parties")
    security = loopback_security(run_dir, insecure=insecure)
    with Processes(run_dir / "logs") as procs:
        address = start_superlink(procs, run_dir, "127.0.0.1", free_port(), security)
        home = cli_home(run_dir, address, security)
        keys = authorize_parties(procs, home, run_dir, [p["name"] for p in files], security)
        for party in files:
            start_client(
                procs,
                run_dir,
                Path(party["path"]),
                party["name"],
                address,
                security,
                auth_key=keys.get(party["name"]),
            )
        return run_and_collect(procs, run_dir, config_path, home, resume=resume, timeout=timeout)


def loopback_security(run_dir: Path, *, insecure: bool) -> Security:
    """Plain text when asked; else TLS from a throw-away CA plus node authentication."""
    if insecure:
        return Security(insecure=True)
    certs = loopback_certificates(run_dir / "certs")
    return Security(ca_cert=certs.ca, server_cert=certs.cert, server_key=certs.key, node_auth=True)


def authorize_parties(
    procs: Processes, home: Path, run_dir: Path, names: Sequence[str], security: Security
) -> dict[str, Path]:
    """A key pair per party, public keys registered on the SuperLink: {party: private key}."""
    if not security.node_auth:
        return {}
    pairs = {name: node_keypair(run_dir / "keys", name) for name in names}
    register_nodes(procs, home, [public for _, public in pairs.values()])
    return {name: private for name, (private, _) in pairs.items()}


def split_parties(cfg: FederatedConfig, folder: Path) -> list[dict[str, Any]]:
    """The server's train split cut into `federation.parties` files (recorded with stats)."""
    splits, _ = load_splits(cfg.data)
    opts = cfg.federation
    parts = partition(splits.train, opts.parties, opts.partition)
    files = write_parties(folder, splits.train, parts)
    stats = partition_stats(splits.train, parts)
    record = {
        "scheme": opts.partition.model_dump(mode="json"),
        "parties": [{**f, **s} for f, s in zip(files, stats, strict=True)],
    }
    atomic_write_text(folder / "partition.json", json.dumps(record, indent=1))
    return files


def start_client(
    procs: Processes,
    run_dir: Path,
    data: Path,
    party: str,
    superlink: str,
    security: Security,
    *,
    auth_key: Path | None = None,
) -> subprocess.Popen:
    home = run_dir / "flwr" / party
    cmd = supernode_cmd(
        superlink, free_port(), data, party, security, state_dir=home, auth_key=auth_key
    )
    return procs.start(party, cmd, flwr_env(home))


def client(
    data: Path,
    *,
    superlink: str,
    security: Security,
    party: str | None = None,
    work_dir: Path | None = None,
    auth_key: Path | None = None,
    check: bool = True,
) -> int:
    """Be one party until stopped (Ctrl-C): a SuperNode whose ClientApp reads only `data`.

    With `check`, the file is read once before connecting (default format options), so a
    malformed line fails here, naming it, instead of in round 1 on the server's side.
    """
    if not data.exists():
        raise ConfigError("no such data file", where=str(data), fix="check --data")
    name = party or data.stem
    if check:
        corpus = read_file(data, DataConfig(source=str(data)))
        log.info("party %s: %d examples (%s) in %s", name, len(corpus.examples), corpus.kind, data)
    folder = work_dir or Path(".cotune-federate") / name
    with Processes(folder / "logs") as procs:
        proc = start_client(procs, folder, data, name, superlink, security, auth_key=auth_key)
        log.info("party %s connected to %s; logs in %s", name, superlink, folder / "logs")
        return proc.wait()
