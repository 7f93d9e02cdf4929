"""The Flower ServerApp: moves messages through Flower's Grid and lets `FederationServer` decide.

Why not `flwr.serverapp.strategy.FedAvg.start()`: its round loop cannot resume after a crash and
does not hand over each party's update, which the update checks, the stored updates and the
ledger all need. So this app drives the Grid itself (Flower's documented custom-`main` way)
and keeps FedAvg/FedProx's arithmetic in `aggregate.py`. With `federation.secure_aggregation`
the same loop hands each round's exchange to Flower's SecAgg+ workflow (`secagg.py`).

Run config keys (from the generated app's pyproject, see `launch.py`): `cotune-config` (the
federated config YAML in the run folder), `run-dir`, `resume`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from flwr.app import Context, Message
from flwr.serverapp import Grid, ServerApp

from cotune.data import load_splits
from cotune.errors import ConfigError
from cotune.federated import messages as wire
from cotune.federated.aggregate import Update
from cotune.federated.config import FederatedConfig, load_federated_config
from cotune.federated.exchange import record_bytes
from cotune.federated.finish import finish_federation
from cotune.federated.secagg import run_secure_round
from cotune.federated.server import FederationServer, ServerModel

log = logging.getLogger("cotune.federated")
app = ServerApp()
POLL_SECONDS = 0.5


@app.main()
def main(grid: Grid, context: Context) -> None:
    run_dir = Path(str(context.run_config["run-dir"]))
    _log_to(run_dir / "server.log")
    cfg = load_federated_config(str(context.run_config["cotune-config"]))
    run_federation(grid, cfg, run_dir, resume=bool(context.run_config.get("resume", False)))


def run_federation(grid: Grid, cfg: FederatedConfig, run_dir: Path, *, resume: bool) -> None:
    splits, provenance = load_splits(cfg.data)
    model = ServerModel(cfg, splits)
    server = FederationServer(cfg, run_dir, model.evaluate, model.metric)
    server.start(model.initial, resume=resume)
    opts = cfg.federation
    mu = opts.proximal_mu if opts.strategy == "fedprox" else 0.0
    recipe = wire.recipe_yaml(cfg)
    names: dict[int, str] = {}  # node id -> the party name it reported
    audit_log = run_dir / "messages.jsonl"
    while not server.done:
        t0 = time.perf_counter()
        nodes = _wait_for_nodes(grid, opts.min_clients, opts.round_timeout)
        by_key = {str(n): n for n in nodes}
        sampled = [by_key[k] for k in server.sample(list(by_key))]
        request = {
            "server_round": server.next_round,
            "proximal_mu": mu,
            "recipe": recipe,
            "labels": model.labels,
            "backbone_hash": model.tm.backbone_fingerprint(),
            "federation_id": server.state.federation_id,
        }
        if opts.secure_aggregation is not None:
            run_secure_round(grid, server, sampled, request, names, audit_log)
            continue
        content = wire.train_content(server.state.arrays, **request)
        out = [
            Message(
                content, dst_node_id=n, message_type=wire.TRAIN, group_id=str(server.next_round)
            )
            for n in sampled
        ]
        replies = list(grid.send_and_receive(out, timeout=opts.round_timeout))
        # pushing set each message's id; replies (error ones too) name the id they answer
        sent_to = {m.metadata.message_id: m.metadata.dst_node_id for m in out}
        updates, failures, bytes_up = _read_replies(
            replies, sent_to, names, server.next_round, audit_log
        )
        answered = {sent_to.get(m.metadata.reply_to_message_id) for m in replies}
        failures += [
            (names.get(n, f"node-{n}"), f"no reply within {opts.round_timeout:g}s")
            for n in sampled
            if n not in answered
        ]
        server.finish_round(
            updates,
            sampled=[names.get(n, f"node-{n}") for n in sampled],
            failures=failures,
            bytes_up=bytes_up,
            bytes_down=record_bytes(content[wire.ARRAYS]),  # as serialised, like bytes_up
            seconds=time.perf_counter() - t0,
        )
    finish_federation(server, model, provenance=provenance.to_dict())


def _read_replies(
    replies: list[Message],
    sent_to: dict[str, int],
    names: dict[int, str],
    server_round: int,
    audit_log: Path,
) -> tuple[list[Update], list[tuple[str, str]], dict[str, int]]:
    """Replies -> updates (shape-checked), failures (error replies, malformed ones)."""
    updates: list[Update] = []
    failures: list[tuple[str, str]] = []
    bytes_up: dict[str, int] = {}
    seen: set[str] = set()
    for msg in replies:
        node = sent_to.get(msg.metadata.reply_to_message_id, msg.metadata.src_node_id)
        if msg.has_error():
            # a party whose ClientApp raised, or a node the SuperLink found gone
            failures.append((names.get(node, f"node-{node}"), str(msg.error.reason)))
            continue
        entry: dict[str, Any] = {"round": server_round, "node": node}
        entry["records"] = wire.audit(msg.content)
        problem = wire.check_reply(msg.content)
        party = names.get(node, f"node-{node}")
        if problem is None:
            party = str(msg.content[wire.PARTY]["name"])
            if party in seen:
                problem = f"a second reply this round claims the party name {party!r}"
        entry["party"] = party
        entry["problem"] = problem
        with audit_log.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        if problem is not None:
            failures.append((party, f"malformed reply: {problem}"))
            continue
        seen.add(party)
        names[node] = party
        bytes_up[party] = record_bytes(msg.content[wire.ARRAYS])
        updates.append(wire.reply_update(msg.content, party))
    return updates, failures, bytes_up


def _wait_for_nodes(grid: Grid, minimum: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= minimum:
            return nodes
        if time.monotonic() > deadline:
            raise ConfigError(
                f"only {len(nodes)} SuperNode(s) connected after {timeout:g}s, "
                f"federation.min_clients is {minimum}",
                where="federation.min_clients",
                fix="start more clients (cotune federate client), or lower min_clients; "
                "resume with --resume",
            )
        time.sleep(POLL_SECONDS)


def _log_to(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
