"""The contribution and cost ledger: what each party gave (examples, rounds, bytes, compute,
privacy spent) and what it was worth to the final model (Shapley value, leave-one-out).

A coalition's value is the server's dev metric of the model that the coalition alone would
have produced, rebuilt by replaying the rounds from the base weights and averaging only the
coalition's stored updates (the "one-shot reconstruction" of Song et al. 2019, multi-round).
No party retrains, so exact Shapley of 4-6 parties costs 2^n dev evaluations. The
approximation: a party's round-t update was computed from the real global model of round t-1,
not from the coalition's. Replaying all parties gives the real final model exactly, so the
values sum to the real gain over the base model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from cotune.federated.aggregate import Update, apply_delta, weighted_average
from cotune.federated.config import LedgerOptions
from cotune.federated.exchange import Arrays
from cotune.federated.shapley import (
    CachedGame,
    Coalition,
    exact_shapley,
    leave_one_out,
    monte_carlo_shapley,
)

ENERGY_ASSUMPTION = (
    "energy = CPU seconds x {w} W per busy core / 3600 (a rough laptop/server core figure; "
    "no power meter was read)"
)
SECURE_AGGREGATION_NOTE = (
    "not available: secure aggregation (SecAgg+) showed the server only the weighted mean of "
    "each round's updates, never one party's, so no coalition can be re-aggregated: no Shapley "
    "value, no leave-one-out (by design, not zero)"
)
SHAPLEY_OFF_NOTE = "not computed: federation.ledger.shapley is off"
FLOPS_ASSUMPTION = (
    "FLOPs = trained tokens x (4 N + 2 N_trainable), N = non-embedding parameters: forward 2N, "
    "activation gradients 2N, weight gradients 2N_trainable"
)


def replay(base: Arrays, rounds: Sequence[Sequence[Update]], coalition: Coalition) -> Arrays:
    """The global weights had only `coalition`'s stored updates been averaged in each round."""
    arrays = dict(base)
    for updates in rounds:
        mine = [u for u in updates if u.party in coalition]
        if mine:
            arrays = apply_delta(arrays, weighted_average(mine))
    return arrays


def coalition_game(
    base: Arrays,
    rounds: Sequence[Sequence[Update]],
    evaluate: Callable[[Arrays], float],
    base_value: float,
) -> CachedGame:
    def value(coalition: Coalition) -> float:
        if not coalition:
            return base_value
        return evaluate(replay(base, rounds, coalition))

    return CachedGame(value)


def contributions(
    parties: Sequence[str], game: Callable[[Coalition], float], opts: LedgerOptions
) -> dict[str, Any]:
    """Shapley (exact or Monte-Carlo, per `opts`) and leave-one-out of every party."""
    n = len(parties)
    mode = opts.shapley
    if mode == "auto":
        mode = "exact" if n <= opts.exact_max_parties else "monte-carlo"
    stderr: dict[str, float] | None = None
    if mode == "exact":
        shapley = exact_shapley(parties, game)
    else:
        shapley, stderr = monte_carlo_shapley(parties, game, opts.permutations, opts.seed)
    everyone = frozenset(parties)
    return {
        "method": mode,
        "shapley": shapley,
        "shapley_stderr": stderr,
        "leave_one_out": leave_one_out(parties, game),
        "value_all": game(everyone),
        "value_none": game(frozenset()),
    }


def reward_split(shapley: dict[str, float], pool: float) -> dict[str, float]:
    """The pool in proportion to positive Shapley values (a party that hurt the model gets 0)."""
    positive = {p: max(0.0, v) for p, v in shapley.items()}
    total = sum(positive.values())
    if total <= 0:
        return {p: 0.0 for p in shapley}
    return {p: pool * v / total for p, v in positive.items()}


def party_costs(
    history: Sequence[dict[str, Any]], watts_per_core: float
) -> dict[str, dict[str, Any]]:
    """Per party, summed over rounds: examples, rounds joined, bytes, compute, epsilon."""
    out: dict[str, dict[str, Any]] = {}
    for rec in history:
        accepted = set(rec["accepted"])
        sampled = rec["sampled"]
        for p in {*sampled, *rec["replied"]}:
            row = out.setdefault(
                p,
                {
                    "examples": 0,
                    "rounds_sampled": 0,
                    "rounds_joined": 0,
                    "updates_rejected": 0,
                    "bytes_sent": 0,
                    "bytes_received": 0,
                    "flops": 0.0,
                    "cpu_seconds": 0.0,
                    "wall_seconds": 0.0,
                    "epsilon": None,
                },
            )
            if p in sampled:
                row["rounds_sampled"] += 1
                row["bytes_received"] += int(rec.get("bytes_down_per_party", 0))
        for p in rec["replied"]:
            row = out[p]
            m = rec["party_metrics"].get(p, {})
            row["examples"] = max(row["examples"], int(rec["n_examples"].get(p, 0)))
            row["bytes_sent"] += int(rec["bytes_up"].get(p, 0))
            row["flops"] += float(m.get("flops", 0.0))
            row["cpu_seconds"] += float(m.get("cpu_seconds", 0.0))
            row["wall_seconds"] += float(m.get("wall_seconds", 0.0))
            if "dp_epsilon" in m:
                row["epsilon"] = float(m["dp_epsilon"])
            if p in accepted and rec["aggregated"]:
                row["rounds_joined"] += 1
        for r in rec["rejected"]:
            out[r["party"]]["updates_rejected"] += 1
    for row in out.values():
        row["energy_wh"] = row["cpu_seconds"] * watts_per_core / 3600.0
    return out


def build_ledger(
    *,
    history: Sequence[dict[str, Any]],
    rounds: Sequence[Sequence[Update]],
    base: Arrays,
    base_value: float,
    evaluate: Callable[[Arrays], float],
    metric: str,
    opts: LedgerOptions,
    secure_aggregation: bool = False,
) -> dict[str, Any]:
    """ledger.json's content: per-party costs and contributions, totals and assumptions.

    Under secure aggregation the costs are all there (each party reports them in the clear);
    the contributions are not, and `contributions.reason` says why."""
    costs = party_costs(history, opts.watts_per_core)
    parties = sorted(costs)
    ledger: dict[str, Any] = {
        "metric": f"dev {metric}",
        "base_value": base_value,
        "assumptions": {
            "energy": ENERGY_ASSUMPTION.format(w=opts.watts_per_core),
            "flops": FLOPS_ASSUMPTION,
            "coalition_value": "dev metric of the model rebuilt from the base weights by "
            "averaging only the coalition's stored updates, round by round",
            "reward": "reward pool split in proportion to positive Shapley values",
        },
    }
    contrib: dict[str, Any] = {}
    if opts.shapley != "off" and parties and not secure_aggregation:
        game = coalition_game(base, rounds, evaluate, base_value)
        contrib = contributions(parties, game, opts)
        contrib["coalitions_evaluated"] = len(game.cache)
    reason = None
    if not contrib:
        reason = SECURE_AGGREGATION_NOTE if secure_aggregation else SHAPLEY_OFF_NOTE
        if opts.shapley != "off" and not secure_aggregation:
            reason = "not computed: no party took part"
    ledger["contributions"] = {"available": bool(contrib), "reason": reason}
    shapley = contrib.get("shapley", {})
    rewards = reward_split(shapley, opts.reward_pool) if shapley else {}
    gain = (contrib["value_all"] - base_value) if contrib else math.nan
    rows = []
    for p in parties:
        row = {"party": p, **costs[p]}
        if contrib:
            row["shapley"] = shapley[p]
            row["share"] = shapley[p] / gain if gain else math.nan
            row["leave_one_out"] = contrib["leave_one_out"][p]
            if contrib["shapley_stderr"] is not None:
                row["shapley_stderr"] = contrib["shapley_stderr"][p]
            row["reward"] = rewards.get(p, 0.0)
        rows.append(row)
    ledger["parties"] = rows
    ledger["totals"] = {
        "final_value": contrib.get("value_all"),
        "gain_over_base": gain,
        "shapley_sum": sum(shapley.values()) if shapley else None,
        "shapley_method": contrib.get("method"),
        "coalitions_evaluated": contrib.get("coalitions_evaluated"),
        "reward_pool": opts.reward_pool,
        "bytes_sent": sum(c["bytes_sent"] for c in costs.values()),
        "flops": sum(c["flops"] for c in costs.values()),
        "cpu_seconds": sum(c["cpu_seconds"] for c in costs.values()),
        "energy_wh": sum(c["energy_wh"] for c in costs.values()),
    }
    return ledger
