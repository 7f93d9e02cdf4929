"""The wire format between the Flower ServerApp and ClientApp, in one place.

Server -> party ("train"): ArrayRecord `arrays` (global trainable weights) + ConfigRecord
`config` (round, FedProx mu, the training recipe as YAML without any data path, the label list,
the backbone's weights hash, the federation's id). Party -> server: ArrayRecord `arrays` (the
update), MetricRecord `metrics` (num-examples and cost counters), ConfigRecord `party` (its
name). Nothing else is accepted: `audit` describes every received message for the run's
`messages.jsonl`, and `check_reply` refuses replies holding anything beyond this, so raw text
or token ids cannot reach the server even by mistake.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import yaml

from cotune.federated.aggregate import Update
from cotune.federated.config import FederatedConfig
from cotune.federated.exchange import Arrays, from_record, to_record

TRAIN = "train"
ARRAYS, CONFIG, METRICS, PARTY = "arrays", "config", "metrics", "party"
# the only numbers a party reports (besides num-examples); see LocalParty.train_round
REPLY_METRICS = {
    "num-examples",
    "train_loss",
    "steps",
    "train_words",
    "cpu_seconds",
    "wall_seconds",
    "flops",
    "rounds_joined",
    "update_bytes",
    "dp_clip_scale",
    "dp_noise_multiplier",
    "dp_epsilon",
    "dp_delta",
}
MAX_PARTY_NAME = 64


def recipe_yaml(cfg: FederatedConfig) -> str:
    """The config a party trains with: everything but the server's data, output and tracking."""
    raw = cfg.model_dump(mode="json")
    for key in ("data", "output_dir", "tracking", "tune", "name"):
        raw.pop(key, None)
    return yaml.safe_dump(raw, sort_keys=False)


def party_config(recipe: str, data_path: str) -> FederatedConfig:
    raw = yaml.safe_load(recipe)
    raw["data"] = {"train": data_path}
    return FederatedConfig.model_validate(raw)


def train_content(
    arrays: Arrays,
    *,
    server_round: int,
    proximal_mu: float,
    recipe: str,
    labels: list[str],
    backbone_hash: str | None,
    federation_id: str,
) -> Any:
    from flwr.app import ConfigRecord, RecordDict

    config = ConfigRecord(
        {
            "server-round": server_round,
            "proximal-mu": float(proximal_mu),
            "recipe": recipe,
            "labels": list(labels),
            "backbone-hash": backbone_hash or "",
            "federation-id": federation_id,
        }
    )
    return RecordDict({ARRAYS: to_record(arrays), CONFIG: config})


def reply_content(delta: Arrays, n_examples: int, metrics: dict[str, float], party: str) -> Any:
    from flwr.app import ConfigRecord, MetricRecord, RecordDict

    record = MetricRecord(
        {"num-examples": int(n_examples), **{k: float(v) for k, v in metrics.items()}}
    )
    return RecordDict(
        {ARRAYS: to_record(delta), METRICS: record, PARTY: ConfigRecord({"name": party})}
    )


def audit(content: Any) -> dict[str, Any]:
    """What a received message holds, without its values: record kinds, tensor names, dtypes
    and shapes, metric names, config keys with value types and lengths."""
    out: dict[str, Any] = {}
    for key, rec in content.items():
        kind = type(rec).__name__
        if kind == "ArrayRecord":
            out[key] = {
                "kind": kind,
                "arrays": {
                    n: {"dtype": a.dtype, "shape": list(a.shape), "bytes": len(a.data)}
                    for n, a in rec.items()
                },
            }
        elif kind == "MetricRecord":
            out[key] = {"kind": kind, "metrics": sorted(rec)}
        else:
            out[key] = {
                "kind": kind,
                "config": {
                    k: {"type": type(v).__name__, "len": len(v) if hasattr(v, "__len__") else 1}
                    for k, v in rec.items()
                },
            }
    return out


def check_reply(content: Any) -> str | None:
    """Why a reply's *shape* is unacceptable (before its numbers are looked at), or None."""
    if set(content.keys()) != {ARRAYS, METRICS, PARTY}:
        return f"records {sorted(content.keys())} != expected {sorted([ARRAYS, METRICS, PARTY])}"
    kinds = {k: type(v).__name__ for k, v in content.items()}
    if kinds != {ARRAYS: "ArrayRecord", METRICS: "MetricRecord", PARTY: "ConfigRecord"}:
        return f"record kinds {kinds} are not as expected"
    extra = sorted(set(content[METRICS]) - REPLY_METRICS)
    if extra:
        return f"unexpected metric(s) {extra}"
    n = content[METRICS].get("num-examples")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        return f"num-examples must be a positive integer, got {n!r}"
    party = content[PARTY]
    name = party.get("name")
    if set(party) != {"name"} or not isinstance(name, str) or not 0 < len(name) <= MAX_PARTY_NAME:
        return f"the party record must hold only a name of 1-{MAX_PARTY_NAME} characters"
    return None


def reply_update(content: Any, party: str) -> Update:
    metrics = {k: float(v) for k, v in content[METRICS].items() if k != "num-examples"}
    n = content[METRICS]["num-examples"]
    arrays = from_record(content[ARRAYS])
    return Update(party, {k: np.asarray(v) for k, v in arrays.items()}, int(n), metrics)
