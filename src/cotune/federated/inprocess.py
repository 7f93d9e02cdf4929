"""The same rounds without a network: parties are objects in this process.

For tests and quick experiments on the library itself (aggregation, ledger, privacy). The real
thing runs each party as its own Flower SuperNode (`flower_server.py`, `launch.py`); both call
`FederationServer` and `LocalParty`, so the numbers are computed by the same code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cotune.errors import ConfigError
from cotune.federated.aggregate import Update
from cotune.federated.exchange import nbytes
from cotune.federated.finish import finish_federation
from cotune.federated.local import LocalParty
from cotune.federated.server import FederationServer, ServerModel

# (party name, round, update) -> the update the server receives; tests use it to play a
# broken or malicious party
Tamper = Callable[[str, int, Update], Update | None]


def run_inprocess(
    model: ServerModel,
    parties: Mapping[str, LocalParty],
    run_dir: Path,
    *,
    resume: bool = False,
    tamper: Tamper | None = None,
    stop_after: int | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the federation's remaining rounds; returns result.json's content.

    `stop_after` ends the run after that many rounds without finishing (a crash, for tests).
    """
    cfg = model.cfg
    if cfg.federation.secure_aggregation is not None:
        # SecAgg+ is a protocol of messages between processes that hold their own keys; this
        # runner has no messages, and faking the protocol here would prove nothing about it
        raise ConfigError(
            "secure aggregation runs only over Flower's messages, not in-process",
            where="federation.secure_aggregation",
            fix="run it with `cotune federate simulate` (a real SuperLink and SuperNodes on "
            "loopback) or `cotune federate server/client`, or remove secure_aggregation",
        )
    server = FederationServer(cfg, run_dir, model.evaluate, model.metric)
    server.start(model.initial, resume=resume)
    mu = cfg.federation.proximal_mu if cfg.federation.strategy == "fedprox" else 0.0
    while not server.done:
        if stop_after is not None and server.state.round >= stop_after:
            return {}
        t0 = time.perf_counter()
        sampled = server.sample(list(parties))
        replies: list[Update] = []
        failures: list[tuple[str, str]] = []
        for name in sampled:
            try:
                res = parties[name].train_round(server.state.arrays, proximal_mu=mu)
            except Exception as e:  # a party failing mid-round must not stop the others
                failures.append((name, f"{type(e).__name__}: {e}"))
                continue
            update: Update | None = Update(name, res.delta, res.n_examples, res.metrics)
            if tamper is not None and update is not None:
                update = tamper(name, server.next_round, update)
            if update is None:
                failures.append((name, "dropped out"))
                continue
            replies.append(update)
        server.finish_round(
            replies,
            sampled=sampled,
            failures=failures,
            bytes_down=nbytes(server.state.arrays),
            seconds=time.perf_counter() - t0,
        )
    return finish_federation(server, model, provenance=provenance or {})
