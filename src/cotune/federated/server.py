"""The server's side of a federation, independent of transport: global model and its dev metric,
per-round aggregation with checks, stored updates, checkpoint and resume.

The Flower ServerApp (`flower_server.py`) moves messages and calls `FederationServer`; the
in-process runner used by tests calls it the same way. Nothing here sees a party's data: only
updates, example counts and a few cost counters.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cotune.data.examples import Example, Splits
from cotune.federated.aggregate import Update, aggregate_round, apply_delta
from cotune.federated.build import TaskModel, build_task_model
from cotune.federated.config import FederatedConfig
from cotune.federated.exchange import Arrays, full_model_bytes, nbytes
from cotune.federated.messages import PartyReport
from cotune.federated.state import ServerState, UpdateStore

log = logging.getLogger("cotune.federated")
Evaluate = Callable[[Arrays], dict[str, float]]


class ServerModel:
    """The global model as the server holds it: built like every party's, evaluated on the
    server's own dev (each round) and test (at the end) examples."""

    def __init__(self, cfg: FederatedConfig, splits: Splits) -> None:
        self.cfg, self.splits = cfg, splits
        self.labels = list(splits.labels)
        self.tm: TaskModel = build_task_model(cfg, self.labels)
        self.metric = cfg.train.metric or self.tm.task.default_metric()
        self.initial = self.tm.arrays()

    def metrics(self, arrays: Arrays, examples: Sequence[Example]) -> dict[str, Any]:
        self.tm.load(arrays)
        task, bs = self.tm.task, self.cfg.train.eval_batch_size
        return task.evaluate(self.tm.model, examples, bs)

    def evaluate(self, arrays: Arrays) -> dict[str, float]:
        """Scalar dev metrics of `arrays` (the per-round global metric, the ledger's value)."""
        return scalars(self.metrics(arrays, self.splits.dev))

    def bytes_per_round(self) -> dict[str, int]:
        return {
            "trainable_bytes": nbytes(self.initial),
            "full_model_bytes": full_model_bytes(self.tm.model),
        }


class FederationServer:
    """Rounds as the server sees them: sample, aggregate what came back, evaluate, checkpoint."""

    def __init__(
        self, cfg: FederatedConfig, run_dir: Path, evaluate: Evaluate, metric: str
    ) -> None:
        self.cfg, self.opts = cfg, cfg.federation
        self.run_dir, self.evaluate, self.metric = run_dir, evaluate, metric
        self.state_dir = run_dir / "server"
        self.updates = UpdateStore(run_dir / "updates")
        self.state = ServerState()

    def start(self, initial: Arrays, *, resume: bool) -> ServerState:
        """Fresh state from `initial` weights, or the last checkpoint when resuming."""
        if resume and ServerState.exists(self.state_dir):
            self.state = ServerState.load(self.state_dir)
            log.info("resuming after round %d", self.state.round)
        else:
            base = self.evaluate(initial)
            self.state = ServerState(0, dict(initial), [], base)
            self.state.save(self.state_dir)
        return self.state

    @property
    def done(self) -> bool:
        return self.state.round >= self.opts.rounds

    @property
    def next_round(self) -> int:
        return self.state.round + 1

    def sample(self, available: Sequence[str]) -> list[str]:
        """Parties asked to train this round: all, or `clients_per_round` of them, drawn by a
        generator seeded with the round so a resumed run draws what the crashed one would."""
        pool = sorted(available)
        k = self.opts.clients_per_round
        if k is None or k >= len(pool):
            return pool
        return sorted(random.Random(f"{self.cfg.train.seed}-{self.next_round}").sample(pool, k))

    def finish_round(
        self,
        replies: Sequence[Update],
        *,
        sampled: Sequence[str],
        failures: Sequence[tuple[str, str]] = (),
        bytes_up: dict[str, int] | None = None,
        bytes_down: int = 0,
        seconds: float = 0.0,
    ) -> dict[str, Any]:
        """Check and aggregate one round's updates, evaluate, record and checkpoint; returns
        the record."""
        agg = aggregate_round(
            self.state.arrays,
            replies,
            min_clients=self.opts.min_clients,
            clip_norm=self.opts.clip_norm,
            reject_norm=self.opts.reject_norm,
        )
        for r in agg.rejected:
            log.warning(
                "round %d: rejected the update of %s: %s", self.next_round, r.party, r.reason
            )
        if agg.aggregated and self.opts.keep_updates:
            self.updates.save(self.next_round, agg.accepted)
        return self._close_round(
            agg.arrays if agg.aggregated else None,
            replies,
            accepted=[u.party for u in agg.accepted],
            sampled=sampled,
            failures=failures,
            bytes_up=dict(bytes_up or {u.party: nbytes(u.delta) for u in replies}),
            bytes_down=bytes_down,
            seconds=seconds,
            rejected=[{"party": r.party, "reason": r.reason} for r in agg.rejected],
            checks={
                "update_norms": agg.norms,
                "clip_scales": agg.clip_scales,
                "secure_aggregation": False,
            },
        )

    def finish_secure_round(
        self,
        mean_delta: Arrays | None,
        replies: Sequence[PartyReport],
        *,
        contributed: Sequence[str],
        sampled: Sequence[str],
        failures: Sequence[tuple[str, str]] = (),
        bytes_up: dict[str, int],
        bytes_down: int,
        seconds: float = 0.0,
        protocol: dict[str, Any],
    ) -> dict[str, Any]:
        """Apply one secure round's unmasked mean (None: the protocol did not complete),
        evaluate, record and checkpoint. The server never saw one party's update, so nothing
        was checked, clipped or stored per party: the record says so instead of inventing
        norms."""
        arrays = None
        if mean_delta is not None and len(contributed) >= self.opts.min_clients:
            arrays = apply_delta(self.state.arrays, mean_delta)
        return self._close_round(
            arrays,
            replies,
            accepted=list(contributed),
            sampled=sampled,
            failures=failures,
            bytes_up=bytes_up,
            bytes_down=bytes_down,
            seconds=seconds,
            rejected=[],
            checks={
                "update_norms": {},
                "clip_scales": {},
                "secure_aggregation": True,
                "secagg": protocol,
            },
        )

    def _close_round(
        self,
        arrays: Arrays | None,
        replies: Sequence[Update | PartyReport],
        *,
        accepted: list[str],
        sampled: Sequence[str],
        failures: Sequence[tuple[str, str]],
        bytes_up: dict[str, int],
        bytes_down: int,
        seconds: float,
        rejected: list[dict[str, str]],
        checks: dict[str, Any],
    ) -> dict[str, Any]:
        """The end of every round: the new global weights (None: the model stays), dev
        metrics, the round's record (`checks`: what the server could check of each update),
        the checkpoint."""
        server_round = self.next_round
        for party, reason in failures:
            log.warning("round %d: no update from %s: %s", server_round, party, reason)
        if arrays is None:
            log.warning(
                "round %d: %d accepted update(s) < min_clients %d; the global model stays",
                server_round,
                len(accepted),
                self.opts.min_clients,
            )
        previous = self.state.history[-1]["dev"] if self.state.history else self.state.base_dev
        dev = self.evaluate(arrays) if arrays is not None else dict(previous)
        record: dict[str, Any] = {
            "round": server_round,
            "sampled": list(sampled),
            "replied": [u.party for u in replies],
            "accepted": accepted,
            "rejected": rejected,
            "failed": [{"party": p, "reason": why} for p, why in failures],
            "aggregated": arrays is not None,
            "dev": dev,
            f"dev_{self.metric}": dev.get(self.metric),
            "n_examples": {u.party: u.n_examples for u in replies},
            "party_metrics": {u.party: u.metrics for u in replies},
            **checks,
            "bytes_down_per_party": bytes_down,
            "bytes_up": bytes_up,
            "seconds": seconds,
        }
        self.state.round = server_round
        if arrays is not None:
            self.state.arrays = arrays
        self.state.history.append(record)
        self.state.save(self.state_dir)
        log.info(
            "round %d: %d/%d accepted, dev %s %.4f",
            server_round,
            len(accepted),
            len(sampled),
            self.metric,
            dev.get(self.metric, float("nan")),
        )
        return record


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
