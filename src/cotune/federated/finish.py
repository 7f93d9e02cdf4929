"""End of a federation: the global model as an ordinary cotune artifact, the ledger, a summary.

The artifact (`RUN/model/`) loads with `load_artifact` and serves, exports and evaluates like
any fine-tuned model; for LoRA it is an adapter folder with its head.
"""

from __future__ import annotations

import json
from typing import Any

from cotune.artifact.writer import write_artifact
from cotune.federated.ledger import build_ledger
from cotune.federated.report import ledger_markdown, ledger_plot
from cotune.federated.server import FederationServer, ServerModel, scalars
from cotune.files import atomic_write_text
from cotune.methods.catalog import count_parameters

RESULT_FILE = "result.json"


def finish_federation(
    server: FederationServer, model: ServerModel, *, provenance: dict[str, Any]
) -> dict[str, Any]:
    """Write RUN/model (artifact), RUN/ledger.{json,md,png} and RUN/result.json."""
    run_dir, cfg, state = server.run_dir, server.cfg, server.state
    metric = model.metric
    final = state.arrays
    dev_full = model.metrics(final, model.splits.dev) if model.splits.dev else {}
    test_full = model.metrics(final, model.splits.test) if model.splits.test else {}
    rounds = [server.updates.load(rec["round"]) for rec in state.history if rec["aggregated"]]
    ledger = build_ledger(
        history=state.history,
        rounds=rounds,
        base=model.initial,
        base_value=float(state.base_dev.get(metric, 0.0)),
        evaluate=lambda arrays: model.evaluate(arrays)[metric],
        metric=metric,
        opts=cfg.federation.ledger,
        secure_aggregation=cfg.federation.secure_aggregation is not None,
    )
    model.tm.load(final)
    sizes = model.bytes_per_round()
    params = count_parameters(model.tm.model)
    training = {
        "metric": metric,
        "best_dev": state.history[-1][f"dev_{metric}"] if state.history else None,
        "rounds": state.round,
        "federation": cfg.federation.strategy,
        "parties": len(ledger["parties"]),
        "params_total": params["total"],
        "params_trainable": params["trainable"],
        "trainable_pct": round(params["trainable_pct"], 4),
        "bytes_per_update": sizes["trainable_bytes"],
        "full_model_bytes": sizes["full_model_bytes"],
    }
    history = [
        {
            "type": "eval",
            "step": r["round"],
            "epoch": r["round"],
            f"dev_{metric}": r[f"dev_{metric}"],
        }
        for r in state.history
    ]
    out = run_dir / "model"
    out.mkdir(parents=True, exist_ok=True)
    write_artifact(
        out,
        cfg=cfg,
        model=model.tm.model,
        tokenizer=model.tm.tokenizer,
        task=model.tm.task,
        method=model.tm.method,
        backbone=model.tm.backbone,
        provenance=provenance,
        split=model.splits.record,
        metrics={"dev": dev_full, "test": test_full, "training": training},
        history=history,
    )
    atomic_write_text(run_dir / "ledger.json", json.dumps(ledger, indent=2))
    atomic_write_text(run_dir / "ledger.md", ledger_markdown(ledger, state.history))
    ledger_plot(ledger, run_dir / "ledger.png")
    bytes_up = [sum(r["bytes_up"].values()) for r in state.history]
    result = {
        "rounds": state.round,
        "metric": metric,
        "base_dev": state.base_dev.get(metric),
        "dev": scalars(dev_full),
        "test": scalars(test_full),
        "dev_per_round": [r[f"dev_{metric}"] for r in state.history],
        "bytes_per_update": sizes["trainable_bytes"],
        "full_model_bytes": sizes["full_model_bytes"],
        "bytes_up_per_round": bytes_up,
        "bytes_down_per_round": [
            r["bytes_down_per_party"] * len(r["sampled"]) for r in state.history
        ],
        "rejected": [{"round": r["round"], **x} for r in state.history for x in r["rejected"]],
        "secure_aggregation": cfg.federation.secure_aggregation is not None,
        "model": str(out),
        "ledger": str(run_dir / "ledger.json"),
    }
    atomic_write_text(run_dir / RESULT_FILE, json.dumps(result, indent=2))
    return result
