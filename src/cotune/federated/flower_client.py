"""The Flower ClientApp: one party's local step on data only its own SuperNode can read.

The SuperNode is started with `--node-config 'data-path="FILE" party="NAME" state-dir="DIR"'`
(what `cotune federate client --data FILE` does); the data file's path never leaves the node and
its content is read here, trained on, and forgotten. Flower starts a fresh ClientApp process per
message, so what a party must remember between rounds (how many rounds of this federation it
joined, for its privacy accounting) is kept in its node's Flower `Context.state` and, so that a
restarted SuperNode does not forget privacy already spent, in `DIR/privacy.json` keyed by the
federation's id.

The same ClientApp serves secure rounds (`federation.secure_aggregation`): Flower's
`secaggplus_mod` handles the key exchange and, around the train handler, quantises and masks the
update it returns (see `messages.py` for both formats).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from flwr.app import ConfigRecord, Context, Message
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

from cotune.errors import ConfigError
from cotune.files import atomic_write_text

if TYPE_CHECKING:
    from cotune.federated.exchange import Arrays
    from cotune.federated.local import LocalParty

app = ClientApp()
STATE = "cotune-party"
# set on a party's machine, its ClientApp also writes each update it sends (before SecAgg+'s
# masking, after its own DP) to DIR/<party>/round-NNNN.npz: the party's own record of what it
# gave, and how the tests check the secure mean against the real updates. Never sent.
KEEP_SENT = "COTUNE_PARTY_UPDATES_DIR"


def secagg_when_asked(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower's SecAgg+ client side for the messages of a secure round (they carry its config
    record); every other message goes straight to the handler, so one ClientApp serves both."""
    if msg.has_content() and RECORD_KEY_CONFIGS in msg.content.config_records:
        return secaggplus_mod(msg, context, call_next)
    return call_next(msg, context)


@app.train(mods=[secagg_when_asked])
def train(msg: Message, context: Context) -> Message:
    # imported here: each SecAgg+ key-exchange message also starts a fresh ClientApp process,
    # and those stages need none of torch/transformers (seconds of imports each)
    from cotune.data.load import read_labelled
    from cotune.federated import messages as wire
    from cotune.federated.local import LocalParty

    data_path = str(context.node_config.get("data-path", ""))
    if not data_path:
        raise ConfigError(
            "this SuperNode has no data-path in its node config",
            fix="start it with cotune federate client --data FILE",
        )
    party = str(context.node_config.get("party") or Path(data_path).stem)
    request = wire.read_train(msg.content)
    cfg = wire.party_config(request.recipe, data_path)
    examples = read_labelled(Path(data_path), cfg.data)
    joined = _rounds_joined(context, request.federation_id)
    local = LocalParty(
        cfg,
        examples,
        request.labels,
        name=party,
        where=data_path,
        progress=False,
        rounds_joined=joined,
    )
    _check_backbone(local, request.backbone_hash)
    result = local.train_round(request.arrays, proximal_mu=request.proximal_mu)
    _remember(context, request.federation_id, local.rounds_joined)
    _keep_sent(party, request.server_round, result.delta)
    content = wire.reply_for(request, result.delta, result.n_examples, result.metrics, party)
    return Message(content, reply_to=msg)


def _keep_sent(party: str, server_round: int, delta: Arrays) -> None:
    folder = os.environ.get(KEEP_SENT)
    if folder:
        from cotune.federated.state import safe_name, save_arrays

        save_arrays(Path(folder) / safe_name(party) / f"round-{server_round:04d}.npz", delta)


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
