"""Secure aggregation rounds: Flower's SecAgg+ workflow inside cotune's own round loop.

With `federation.secure_aggregation`, the ServerApp (`flower_server.py`) keeps its loop (wait for
nodes, sample, checkpoint, resume) and hands each round's message exchange to Flower's
`SecAggPlusWorkflow`: setup (public keys), share keys (encrypted secret shares), collect masked
vectors (each party trains here, and its mod quantises and masks the update), unmask (key shares
that remove the masks from the *sum*). The workflow speaks the legacy Strategy API, so each
round gets a `LegacyContext` with the global weights, a Strategy that asks exactly the nodes
our server sampled and captures the unmasked weighted mean its aggregate_fit receives (every
result's parameters are that mean: no one party's vector exists on the server), and a
ClientManager holding those nodes.

`AuditedGrid` stands between the workflow and Flower's Grid: it writes every reply's shape to
`messages.jsonl`, withholds a reply holding more than its stage allows (the workflow then treats
that party as dropped, and the protocol recovers its masks), counts the bytes each party sent,
and reads each party's name, example count and counters from its masked-vector reply.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.common import FitIns, FitRes, Parameters, Scalar, parameters_to_ndarrays
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage
from flwr.compat.common import recorddict_compat as compat
from flwr.server import ClientManager, LegacyContext, SimpleClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.strategy import Strategy
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from cotune.errors import ConfigError
from cotune.federated import messages as wire
from cotune.federated.config import MODULUS_RANGE, SecureAggregationOptions
from cotune.federated.exchange import Arrays
from cotune.federated.server import FederationServer

log = logging.getLogger("cotune.federated")
FIRST_MAX_WEIGHT = 1000.0  # Flower's default, used before any party's example count is known


def max_weight_for(opts: SecureAggregationOptions, history: Sequence[dict[str, Any]]) -> float:
    """The configured max_weight, else the largest example count a party reported before (a
    weight near 1 for the largest party keeps the most quantisation levels for everyone)."""
    if opts.max_weight is not None:
        return opts.max_weight
    counts = [int(n) for rec in history for n in rec.get("n_examples", {}).values()]
    return float(max(counts)) if counts else FIRST_MAX_WEIGHT


def quantized_weights(counts: Iterable[int], max_weight: float, levels: int) -> list[int]:
    """Each party's weight as SecAgg+'s mod quantises it: round(n / max_weight x levels)."""
    return [round(n / max_weight * levels) for n in counts]


def quantization_error(
    counts: Sequence[int], opts: SecureAggregationOptions, max_weight: float
) -> float:
    """Largest error a value of the unmasked mean can carry: each of the K parties' scaled
    values is stochastically rounded to within one level (2 C / Q), and the sum is divided by
    the summed quantised weights over Q, so |error| < 2 K C / sum(q). Values clipped at
    +-clipping_range (after scaling) are not covered: that is the clipping, not the rounding."""
    q = sum(quantized_weights(counts, max_weight, opts.quantization_range))
    return 2 * len(counts) * opts.clipping_range / q if q else float("inf")


@dataclass
class RoundTrace:
    """What the server saw of one secure round, reply by reply, keyed by node id."""

    stages: list[str] = field(default_factory=list)  # stages whose messages were sent
    protocol: dict[str, Any] = field(default_factory=dict)  # shares and threshold, as set up
    bytes_up: dict[int, int] = field(default_factory=dict)
    bytes_down: dict[int, int] = field(default_factory=dict)
    problems: dict[int, str] = field(default_factory=dict)  # why a node left the protocol
    reports: dict[int, wire.PartyReport] = field(default_factory=dict)  # masked-vector replies
    audit: list[dict[str, Any]] = field(default_factory=list)  # messages.jsonl lines


class AuditedGrid(Grid):
    """Flower's Grid, passed through, with every reply of a secure round audited and checked."""

    def __init__(self, grid: Grid, server_round: int, names: dict[int, str]) -> None:
        self.grid, self.server_round, self.names = grid, server_round, names
        self.trace = RoundTrace()

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        out = list(messages)
        if not out:
            return []
        sent = out[0].content[RECORD_KEY_CONFIGS]
        stage = str(sent[Key.STAGE])
        self.trace.stages.append(stage)
        if stage == Stage.SETUP:
            self.trace.protocol = {
                "num_shares": int(sent[Key.SHARE_NUMBER]),  # type: ignore[arg-type]
                "threshold": int(sent[Key.THRESHOLD]),  # type: ignore[arg-type]
            }
        for m in out:
            node = m.metadata.dst_node_id
            self.trace.bytes_down[node] = self.trace.bytes_down.get(node, 0) + wire.payload_bytes(
                m.content
            )
        replies = list(self.grid.send_and_receive(out, timeout=timeout))
        # pushing set each message's id; replies (error ones too) name the id they answer
        sent_to = {m.metadata.message_id: m.metadata.dst_node_id for m in out}
        answered = {_node(r, sent_to) for r in replies}
        for m in out:
            if m.metadata.dst_node_id not in answered:
                self.trace.problems[m.metadata.dst_node_id] = f"{stage}: no reply within {timeout}s"
        # a refused reply is withheld: the workflow counts that node as dropped and recovers
        # its masks from the other parties' shares
        return [r for r in replies if self._accept(r, stage, sent_to)]

    def _accept(self, msg: Message, stage: str, sent_to: dict[str, int]) -> bool:
        node = _node(msg, sent_to)
        if msg.has_error():
            self.trace.problems[node] = f"{stage}: {msg.error.reason}"
            return True
        problem = wire.check_secure_reply(msg.content, stage)
        if problem is None and stage == Stage.COLLECT_MASKED_VECTORS:
            report = wire.secure_report(msg.content)
            if report.party in {r.party for r in self.trace.reports.values()}:
                problem = f"a second reply this round claims the party name {report.party!r}"
            else:
                self.trace.reports[node] = report
                self.names[node] = report.party
        size = wire.payload_bytes(msg.content)
        self.trace.bytes_up[node] = self.trace.bytes_up.get(node, 0) + size
        self.trace.audit.append(
            {
                "round": self.server_round,
                "node": node,
                "stage": stage,
                "records": wire.audit(msg.content),
                "bytes": size,
                "problem": problem,
            }
        )
        if problem is not None:
            self.trace.problems[node] = f"{stage}: malformed reply: {problem}"
            self.trace.reports.pop(node, None)
        return problem is None

    # the rest of Grid, delegated
    def set_run(self, run: Run) -> None:
        self.grid.set_run(run)

    @property
    def run(self) -> Run:
        return self.grid.run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return self.grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        return self.grid.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self.grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self.grid.pull_messages(message_ids)


def _node(reply: Message, sent_to: dict[str, int]) -> int:
    return sent_to.get(reply.metadata.reply_to_message_id, reply.metadata.src_node_id)


class SampledNodes(Strategy):
    """The legacy Strategy SecAgg+'s workflow asks: it trains exactly the nodes cotune's server
    sampled, with cotune's request, and keeps the unmasked mean instead of deciding anything."""

    def __init__(self, proxies: Sequence[ClientProxy], fitins: FitIns) -> None:
        self.proxies, self.fitins = list(proxies), fitins
        self.mean: list[np.ndarray] | None = None
        self.contributors: list[int] = []  # nodes whose masked vectors are in the sum

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        return None

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        return [(p, self.fitins) for p in self.proxies]

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        self.contributors = [proxy.node_id for proxy, _ in results]
        if results:  # every result carries the same unmasked mean
            self.mean = parameters_to_ndarrays(results[0][1].parameters)
        return None, {}

    def configure_evaluate(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def aggregate_evaluate(
        self, *args: Any, **kwargs: Any
    ) -> tuple[float | None, dict[str, Scalar]]:
        return None, {}

    def evaluate(self, *args: Any, **kwargs: Any) -> tuple[float, dict[str, Scalar]] | None:
        return None


def run_secure_round(
    grid: Grid,
    server: FederationServer,
    sampled: Sequence[int],
    request: dict[str, Any],
    names: dict[int, str],
    audit_log: Path,
) -> dict[str, Any]:
    """One round under SecAgg+ among the `sampled` nodes; returns the round's record."""
    t0 = time.perf_counter()
    opts = server.opts.secure_aggregation
    assert opts is not None
    server_round = server.next_round
    if len(sampled) * opts.quantization_range >= MODULUS_RANGE:
        raise ConfigError(
            f"{len(sampled)} parties x quantization_range {opts.quantization_range} reach 2^32, "
            "the masking modulus: the masked sum would wrap around",
            where="federation.secure_aggregation.quantization_range",
            fix="lower quantization_range, or federation.clients_per_round",
        )
    if len(sampled) == 2:
        log.warning(
            "round %d: secure aggregation among 2 parties: each can compute the other's "
            "update from the mean (3 or more keep it hidden)",
            server_round,
        )
    max_weight = max_weight_for(opts, server.state.history)
    order = list(server.state.arrays)
    fitins = wire.secure_train_ins(server.state.arrays, **request)
    audited = AuditedGrid(grid, server_round, names)
    # a private scratch context: the workflow keeps its round state in it; our proxies are only
    # identities for it (the workflow sends through the grid, never through a proxy)
    proxies = [GridClientProxy(n, audited, run_id=0) for n in sampled]
    strategy = SampledNodes(proxies, fitins)
    manager = SimpleClientManager()
    for p in proxies:
        manager.register(p)
    context = LegacyContext(
        Context(run_id=0, node_id=0, node_config={}, state=RecordDict(), run_config={}),
        strategy=strategy,
        client_manager=manager,
    )
    context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
        {WorkflowKey.CURRENT_ROUND: server_round}
    )
    context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
        fitins.parameters, keep_input=True
    )
    workflow = SecAggPlusWorkflow(
        opts.num_shares,
        opts.reconstruction_threshold,
        max_weight=max_weight,
        clipping_range=opts.clipping_range,
        quantization_range=opts.quantization_range,
        timeout=server.opts.round_timeout,
    )
    trace = audited.trace
    try:
        workflow(audited, context)
    finally:  # written at the end, when each node's party name is known (its 3rd reply)
        with audit_log.open("a", encoding="utf-8") as f:
            for entry in trace.audit:
                party = names.get(entry["node"], f"node-{entry['node']}")
                f.write(json.dumps({**entry, "party": party}) + "\n")
    contributed = [n for n in sampled if n in set(strategy.contributors)]
    counts = [trace.reports[n].n_examples for n in contributed if n in trace.reports]
    mean, problem = _read_mean(strategy.mean, order, server.state.arrays, counts, opts, max_weight)
    if problem is not None:
        log.error("round %d: secure aggregation result refused: %s", server_round, problem)
        contributed = []
    elif strategy.mean is None:
        problem = f"halted after stage {trace.stages[-1] if trace.stages else 'none'}"
        log.warning("round %d: secure aggregation %s", server_round, problem)

    def name(node: int) -> str:
        return names.get(node, f"node-{node}")

    failures = [
        (name(n), trace.problems.get(n) or f"secure aggregation {problem or 'left it out'}")
        for n in sampled
        if n not in contributed
    ]
    return server.finish_secure_round(
        mean if problem is None else None,
        [trace.reports[n] for n in sampled if n in trace.reports],
        contributed=[name(n) for n in contributed],
        sampled=[name(n) for n in sampled],
        failures=failures,
        bytes_up={name(n): b for n, b in trace.bytes_up.items()},
        bytes_down=round(sum(trace.bytes_down.values()) / max(1, len(sampled))),
        seconds=time.perf_counter() - t0,
        protocol={
            **trace.protocol,
            "stages": trace.stages,
            "completed": problem is None,
            "problem": problem,
            "dropped": {name(n): why for n, why in trace.problems.items()},
            "max_weight": max_weight,
            "clipping_range": opts.clipping_range,
            "quantization_range": opts.quantization_range,
            "max_error": quantization_error(counts, opts, max_weight) if counts else None,
        },
    )


def _read_mean(
    mean: list[np.ndarray] | None,
    order: list[str],
    global_arrays: Arrays,
    counts: Sequence[int],
    opts: SecureAggregationOptions,
    max_weight: float,
) -> tuple[Arrays | None, str | None]:
    """The unmasked mean as named arrays, or why it cannot be trusted: the only checks a server
    can make on a sum it cannot take apart (shapes, finite values, no modulus overflow)."""
    if mean is None:
        return None, None
    weights = sum(quantized_weights(counts, max_weight, opts.quantization_range))
    if weights >= MODULUS_RANGE:
        return None, (
            f"the parties' quantised weights sum to {weights} >= 2^32: the mean wrapped around; "
            "set federation.secure_aggregation.max_weight near the largest party's examples"
        )
    if len(mean) != len(order):
        return None, f"{len(mean)} arrays came back, the model has {len(order)}"
    arrays = {}
    for name, value in zip(order, mean, strict=True):
        shape = np.asarray(global_arrays[name]).shape
        if value.shape != shape or not np.all(np.isfinite(value)):
            return None, f"{name}: shape {value.shape} (expected {shape}) or non-finite values"
        arrays[name] = value.astype(np.float32)
    return arrays, None
