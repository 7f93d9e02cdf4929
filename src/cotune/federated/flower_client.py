"""The Flower ClientApp: one party's local step on data only its own SuperNode can read.

The SuperNode is started with `--node-config 'data-path="FILE" party="NAME" state-dir="DIR"'`
(what `cotune federate client --data FILE` does); the data file's path never leaves the node and
its content is read here, trained on, and forgotten. Flower starts a fresh ClientApp process per
message, so what a party must remember between rounds (how many rounds of this federation it
joined, for its privacy accounting) is kept in its node's Flower `Context.state` and, so that a
restarted SuperNode does not forget privacy already spent, in `DIR/privacy.json` keyed by the
federation's id.
"""

from __future__ import annotations

import json
from pathlib import Path

from flwr.app import ConfigRecord, Context, Message
from flwr.clientapp import ClientApp

from cotune.data.cache import atomic_write_text
from cotune.data.load import read_labelled
from cotune.errors import ConfigError
from cotune.federated import messages as wire
from cotune.federated.exchange import from_record
from cotune.federated.local import LocalParty

app = ClientApp()
STATE = "cotune-party"


@app.train()
def train(msg: Message, context: Context) -> Message:
    data_path = str(context.node_config.get("data-path", ""))
    if not data_path:
        raise ConfigError(
            "this SuperNode has no data-path in its node config",
            fix="start it with cotune federate client --data FILE",
        )
    party = str(context.node_config.get("party") or Path(data_path).stem)
    config = msg.content[wire.CONFIG]
    cfg = wire.party_config(str(config["recipe"]), data_path)
    examples = read_labelled(Path(data_path), cfg.data)
    labels = [str(x) for x in config["labels"]]  # type: ignore[union-attr]
    federation = str(config.get("federation-id", ""))
    joined = _rounds_joined(context, federation)
    local = LocalParty(
        cfg, examples, labels, name=party, where=data_path, progress=False, rounds_joined=joined
    )
    _check_backbone(local, str(config.get("backbone-hash", "")))
    result = local.train_round(
        from_record(msg.content[wire.ARRAYS]),
        proximal_mu=float(config["proximal-mu"]),  # type: ignore[arg-type]
    )
    _remember(context, federation, local.rounds_joined)
    content = wire.reply_content(result.delta, result.n_examples, result.metrics, party)
    return Message(content, reply_to=msg)


def _counts_file(context: Context) -> Path | None:
    folder = str(context.node_config.get("state-dir", ""))
    return Path(folder) / "privacy.json" if folder else None


def _rounds_joined(context: Context, federation: str) -> int:
    state = context.state.config_records.get(STATE)
    in_memory = int(str(state.get(federation, 0))) if state is not None else 0
    path = _counts_file(context)
    on_disk = 0
    if path is not None and path.exists():
        on_disk = int(json.loads(path.read_text(encoding="utf-8")).get(federation, 0))
    return max(in_memory, on_disk)


def _remember(context: Context, federation: str, rounds: int) -> None:
    context.state[STATE] = ConfigRecord({federation: rounds})
    path = _counts_file(context)
    if path is not None:
        counts = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        counts[federation] = rounds
        atomic_write_text(path, json.dumps(counts, indent=1))


def _check_backbone(local: LocalParty, expected: str) -> None:
    """Frozen weights never travel, so they must be the same bytes on every node."""
    actual = local.tm.backbone_fingerprint()
    if expected and actual and actual != expected:
        raise ConfigError(
            f"this node's backbone {local.cfg.model.backbone!r} has weights hash {actual}, the "
            f"server's has {expected}",
            where="model.backbone",
            fix="install the same backbone version on every node",
        )
