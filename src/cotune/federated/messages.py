"""The wire format between the Flower ServerApp and ClientApp, in one place.

Server -> party ("train"): ArrayRecord `arrays` (global trainable weights) + ConfigRecord
`config` (round, FedProx mu, the training recipe as YAML without any data path, the label list,
the backbone's weights hash, the federation's id). Party -> server: ArrayRecord `arrays` (the
update), MetricRecord `metrics` (num-examples and cost counters), ConfigRecord `party` (its
name). Nothing else is accepted: `audit` describes every received message for the run's
`messages.jsonl`, and `check_reply` refuses replies holding anything beyond this, so raw text
or token ids cannot reach the server even by mistake.

With `federation.secure_aggregation`, Flower's SecAgg+ (`secagg.py`) carries the same request
in the legacy FitIns format its workflow speaks (arrays as an ordered list, names and labels as
JSON strings), and a party replies with a legacy FitRes that SecAgg+'s client mod quantises,
masks and *empties* before it leaves: the server receives per party only protocol values
(public keys, encrypted key shares, the masked vector, key shares) and, in the clear, the
counters, the example count and the name. `check_secure_reply` holds each stage's reply to
exactly that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from cotune.federated.aggregate import Update
from cotune.federated.config import FederatedConfig
from cotune.federated.exchange import Arrays, from_record, to_record

TRAIN = "train"
ARRAYS, CONFIG, METRICS, PARTY = "arrays", "config", "metrics", "party"
LEGACY_IN, LEGACY_OUT = "fitins", "fitres"  # Flower's legacy FitIns/FitRes record prefixes
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


def train_config(
    *,
    server_round: int,
    proximal_mu: float,
    recipe: str,
    labels: list[str],
    backbone_hash: str | None,
    federation_id: str,
) -> dict[str, Any]:
    """What a party is told each round, besides the weights (both wire formats)."""
    return {
        "server-round": server_round,
        "proximal-mu": float(proximal_mu),
        "recipe": recipe,
        "labels": list(labels),
        "backbone-hash": backbone_hash or "",
        "federation-id": federation_id,
    }


def train_content(arrays: Arrays, **request: Any) -> Any:
    """A plain round's train message: `arrays` plus `train_config(**request)`."""
    from flwr.app import ConfigRecord, RecordDict

    config = ConfigRecord(train_config(**request))
    return RecordDict({ARRAYS: to_record(arrays), CONFIG: config})


def secure_train_ins(arrays: Arrays, **request: Any) -> Any:
    """A secure round's request as the legacy FitIns SecAgg+'s workflow sends: arrays as an
    ordered list (their names, in order, under `array-names`), lists as JSON (a legacy config
    holds only scalars)."""
    from flwr.common import FitIns, ndarrays_to_parameters

    config = train_config(**request)
    config["labels"] = json.dumps(config["labels"])
    config["array-names"] = json.dumps(list(arrays))
    return FitIns(ndarrays_to_parameters([np.asarray(v) for v in arrays.values()]), config)


@dataclass
class TrainRequest:
    """A train message as a party reads it, whichever format it came in."""

    arrays: Arrays
    server_round: int
    proximal_mu: float
    recipe: str
    labels: list[str]
    backbone_hash: str
    federation_id: str
    secure: bool  # a SecAgg+ round: reply with a legacy FitRes, arrays in this order


def read_train(content: Any) -> TrainRequest:
    secure = f"{LEGACY_IN}.parameters" in content.array_records
    if secure:
        from flwr.common import parameters_to_ndarrays
        from flwr.compat.common import recorddict_compat as compat

        fitins = compat.recorddict_to_fitins(content, keep_input=True)
        config: Any = fitins.config
        names = json.loads(str(config["array-names"]))
        arrays = dict(zip(names, parameters_to_ndarrays(fitins.parameters), strict=True))
        labels = json.loads(str(config["labels"]))
    else:
        config = content[CONFIG]
        arrays, labels = from_record(content[ARRAYS]), list(config["labels"])
    return TrainRequest(
        arrays=arrays,
        server_round=int(config["server-round"]),
        proximal_mu=float(config["proximal-mu"]),
        recipe=str(config["recipe"]),
        labels=[str(x) for x in labels],
        backbone_hash=str(config.get("backbone-hash", "")),
        federation_id=str(config.get("federation-id", "")),
        secure=secure,
    )


def reply_for(
    request: TrainRequest, delta: Arrays, n_examples: int, metrics: dict[str, float], party: str
) -> Any:
    """The reply in the request's format."""
    if not request.secure:
        return reply_content(delta, n_examples, metrics, party)
    return secure_reply(delta, list(request.arrays), n_examples, metrics, party)


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


def secure_reply(
    delta: Arrays, names: list[str], n_examples: int, metrics: dict[str, float], party: str
) -> Any:
    """A legacy FitRes for SecAgg+'s client mod, which quantises, masks and clears its
    parameters before the reply leaves. float64: the update is scaled by examples / max_weight
    and quantised to 2^22 levels, finer than float32's 24 bits keep near the range's edge."""
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
    from flwr.compat.common import recorddict_compat as compat

    params = ndarrays_to_parameters([np.asarray(delta[n], dtype=np.float64) for n in names])
    counters: dict[str, Any] = {k: float(v) for k, v in metrics.items()}
    fitres = FitRes(Status(Code.OK, ""), params, int(n_examples), {**counters, PARTY: party})
    return compat.fitres_to_recorddict(fitres, keep_input=False)


def _secure_stage_keys() -> dict[str, set[str]]:
    from flwr.common.secure_aggregation.secaggplus_constants import Key, Stage

    return {
        Stage.SETUP: {Key.PUBLIC_KEY_1, Key.PUBLIC_KEY_2},
        Stage.SHARE_KEYS: {Key.DESTINATION_LIST, Key.CIPHERTEXT_LIST},
        Stage.COLLECT_MASKED_VECTORS: {Key.MASKED_PARAMETERS},
        Stage.UNMASK: {Key.NODE_ID_LIST, Key.SHARE_LIST},
    }


def _bytes_or_ints(value: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return all(
        isinstance(x, bytes) or (isinstance(x, int) and not isinstance(x, bool)) for x in items
    )


def check_secure_reply(content: Any, stage: str) -> str | None:
    """Why a SecAgg+ reply holds more than its stage allows, or None. Every stage: only the
    protocol's values (bytes and node ids). The masked-vector stage also: the legacy FitRes,
    its arrays emptied, its metrics only the known counters and the party name, an empty status
    message (a free-text field otherwise)."""
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Stage

    keys = _secure_stage_keys()
    if stage not in keys:
        return f"unknown SecAgg+ stage {stage!r}"
    kinds = {k: type(v).__name__ for k, v in content.items()}
    expected = {RECORD_KEY_CONFIGS: "ConfigRecord"}
    if stage == Stage.COLLECT_MASKED_VECTORS:
        expected |= {
            f"{LEGACY_OUT}.parameters": "ArrayRecord",
            f"{LEGACY_OUT}.metrics": "ConfigRecord",
            f"{LEGACY_OUT}.num_examples": "MetricRecord",
            f"{LEGACY_OUT}.status": "ConfigRecord",
        }
    if kinds != expected:
        return f"records {kinds} != expected {expected} at stage {stage}"
    protocol = content[RECORD_KEY_CONFIGS]
    if set(protocol) != keys[stage] or not all(_bytes_or_ints(v) for v in protocol.values()):
        return f"stage {stage} values {sorted(protocol)} != expected {sorted(keys[stage])}"
    if stage != Stage.COLLECT_MASKED_VECTORS:
        return None
    if len(content[f"{LEGACY_OUT}.parameters"]):
        return "the update's arrays travelled unmasked"
    metrics = dict(content[f"{LEGACY_OUT}.metrics"])
    name = metrics.pop(PARTY, None)
    if not isinstance(name, str) or not 0 < len(name) <= MAX_PARTY_NAME:
        return f"the party name must be a string of 1-{MAX_PARTY_NAME} characters"
    extra = sorted(set(metrics) - REPLY_METRICS)
    if extra or not all(isinstance(v, float) for v in metrics.values()):
        return f"unexpected metric(s) {extra}" if extra else "metrics must be numbers"
    n = content[f"{LEGACY_OUT}.num_examples"]
    if (
        set(n) != {"num_examples"}
        or not isinstance(n["num_examples"], int)
        or n["num_examples"] < 1
    ):
        return f"num_examples must be a positive integer, got {dict(n)!r}"
    status = content[f"{LEGACY_OUT}.status"]
    if set(status) != {"code", "message"} or status["message"] != "":
        return "the status must hold only a code and an empty message"
    return None


@dataclass
class PartyReport:
    """What the server learns of a party in a secure round: its update stays masked."""

    party: str
    n_examples: int
    metrics: dict[str, float]


def secure_report(content: Any) -> PartyReport:
    """The clear part of a checked masked-vector reply."""
    metrics = {k: float(v) for k, v in content[f"{LEGACY_OUT}.metrics"].items() if k != PARTY}
    n = int(content[f"{LEGACY_OUT}.num_examples"]["num_examples"])
    return PartyReport(str(content[f"{LEGACY_OUT}.metrics"][PARTY]), n, metrics)


def payload_bytes(content: Any) -> int:
    """Bytes of a message's values: arrays' serialised data, bytes and strings (keys, encrypted
    shares, masked vectors), 8 a number; not Flower's framing around them."""
    total = 0
    for rec in content.values():
        if type(rec).__name__ == "ArrayRecord":
            total += sum(len(a.data) for a in rec.values())
        else:
            total += sum(_value_bytes(v) for v in rec.values())
    return total


def _value_bytes(value: Any) -> int:
    if isinstance(value, list):
        return sum(_value_bytes(v) for v in value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    return 8
