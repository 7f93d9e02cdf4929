"""Secure aggregation (Flower's SecAgg+): the config's rules, the wire checks of each stage's
reply, secure federations run through the real ServerApp/ClientApp code in-process (an in-memory
Grid; parties drop out or misbehave mid-protocol) and over a real SuperLink + 3 SuperNodes on
loopback. Every unmasked mean is checked against the example-weighted mean of the updates the
parties really sent (each writes them to a folder only the test reads, see
`flower_client.KEEP_SENT`), within the quantisation bound the server records each round."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flwr.app import ConfigRecord, Context, Error, Message, RecordDict
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage
from flwr.common.serde import message_from_proto, message_to_proto
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from cotune.errors import ConfigError
from cotune.federated import messages as wire
from cotune.federated.aggregate import Update, apply_delta, weighted_average
from cotune.federated.config import FederatedConfig, load_federated_config
from cotune.federated.exchange import Arrays, to_record
from cotune.federated.flower_client import KEEP_SENT
from cotune.federated.secagg import FIRST_MAX_WEIGHT, max_weight_for
from cotune.federated.state import ServerState, load_arrays_file

from .federated_helpers import fed_config, sentiment

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "federated-wnut16-lora-secagg.yaml"
STAGES = {Stage.SETUP, Stage.SHARE_KEYS, Stage.COLLECT_MASKED_VECTORS, Stage.UNMASK}


# ---- config -------------------------------------------------------------------------------


def test_secure_aggregation_turns_off_what_needs_one_partys_update(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    plain = fed_config(tiny_backbone, tmp_path)
    assert plain.federation.reject_norm == 1000.0 and plain.federation.keep_updates
    cfg = fed_config(tiny_backbone, tmp_path, min_clients=2, secure_aggregation={})
    opts = cfg.federation
    assert opts.secure_aggregation is not None and opts.secure_aggregation.clipping_range == 8.0
    assert (opts.reject_norm, opts.clip_norm, opts.keep_updates) == (None, None, False)
    assert opts.ledger.shapley == "off"
    # the config the ServerApp reads back (written with every key explicit) validates too
    again = FederatedConfig.model_validate(cfg.model_dump(mode="json"))
    assert again.federation == opts
    shipped = load_federated_config(CONFIG)
    assert shipped.federation.secure_aggregation is not None
    assert shipped.federation.min_clients == 3 and shipped.federation.reject_norm is None


@pytest.mark.parametrize(
    ("override", "value", "key"),
    [
        ("federation.reject_norm", 50.0, "federation.reject_norm"),
        ("federation.clip_norm", 1.0, "federation.clip_norm"),
        ("federation.keep_updates", True, "federation.keep_updates"),
        ("federation.ledger.shapley", "exact", "federation.ledger.shapley"),
        ("federation.min_clients", 1, "federation.min_clients"),
        ("federation.secure_aggregation.num_shares", 2, "num_shares"),
        ("federation.secure_aggregation.num_shares", 1.5, "num_shares"),
        ("federation.secure_aggregation.reconstruction_threshold", 1.2, "reconstruction_thr"),
        ("federation.secure_aggregation.quantization_range", 2**30, "quantization_range"),
    ],
)
def test_config_refusals_name_the_key(override: str, value: Any, key: str) -> None:
    overrides: dict[str, Any] = {override: value}
    if key == "quantization_range":
        overrides["federation.min_clients"] = 4  # 4 x 2^30 = 2^32: the masked sum wraps
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_federated_config(CONFIG, overrides)


def test_count_shares_must_exceed_the_threshold(tiny_backbone: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reconstruction_threshold 5 must be below num_shares 5"):
        fed_config(
            tiny_backbone,
            tmp_path,
            min_clients=3,
            secure_aggregation={"num_shares": 5, "reconstruction_threshold": 5},
        )


def test_in_process_runner_refuses_secure_aggregation(tiny_backbone: Path, tmp_path: Path) -> None:
    from cotune.federated.inprocess import run_inprocess
    from cotune.federated.server import ServerModel

    from .federated_helpers import sentiment_splits

    cfg = fed_config(tiny_backbone, tmp_path, min_clients=2, secure_aggregation={})
    with pytest.raises(ConfigError, match="federate simulate"):
        run_inprocess(ServerModel(cfg, sentiment_splits()), {}, tmp_path / "run")


def test_max_weight_defaults_to_the_largest_count_seen() -> None:
    from cotune.federated.config import SecureAggregationOptions

    opts = SecureAggregationOptions()
    assert max_weight_for(opts, []) == FIRST_MAX_WEIGHT
    history = [{"n_examples": {"a": 6, "b": 40}}, {"n_examples": {"a": 6}}]
    assert max_weight_for(opts, history) == 40.0
    assert max_weight_for(SecureAggregationOptions(max_weight=7), history) == 7.0


# ---- the wire ------------------------------------------------------------------------------


def masked_reply(**changes: Any) -> RecordDict:
    """A masked-vector reply as SecAgg+'s mod sends it: our FitRes, arrays emptied, plus the
    masked vector."""
    content = wire.secure_reply({"w": np.ones((2, 2), np.float32)}, ["w"], 5, {"steps": 2.0}, "p1")
    content[f"{wire.LEGACY_OUT}.parameters"].clear()
    content[RECORD_KEY_CONFIGS] = ConfigRecord({Key.MASKED_PARAMETERS: [b"\x01\x02", b"\x03"]})
    for key, rec in changes.items():
        if rec is None:
            del content[key]
        else:
            content[key] = rec
    return content


@pytest.mark.parametrize(
    ("content", "stage", "why"),
    [
        (masked_reply(), Stage.COLLECT_MASKED_VECTORS, None),
        (
            RecordDict({RECORD_KEY_CONFIGS: ConfigRecord({"pk1": b"a", "pk2": b"b"})}),
            Stage.SETUP,
            None,
        ),
        (
            RecordDict({RECORD_KEY_CONFIGS: ConfigRecord({"pk1": b"a", "note": "john"})}),
            Stage.SETUP,
            "values",
        ),
        (
            masked_reply(**{wire.ARRAYS: to_record({"w": np.ones(3, np.float32)})}),
            Stage.COLLECT_MASKED_VECTORS,
            "records",
        ),
        (
            masked_reply(**{f"{wire.LEGACY_OUT}.parameters": to_record({"w": np.ones(3)})}),
            Stage.COLLECT_MASKED_VECTORS,
            "unmasked",
        ),
        (
            masked_reply(
                **{f"{wire.LEGACY_OUT}.metrics": ConfigRecord({"party": "p1", "text": 1.0})}
            ),
            Stage.COLLECT_MASKED_VECTORS,
            "unexpected metric",
        ),
        (
            masked_reply(
                **{f"{wire.LEGACY_OUT}.status": ConfigRecord({"code": 0, "message": "john"})}
            ),
            Stage.COLLECT_MASKED_VECTORS,
            "status",
        ),
        (masked_reply(), Stage.UNMASK, "records"),
    ],
)
def test_secure_replies_holding_more_than_their_stage_allows_are_refused(
    content: RecordDict, stage: str, why: str | None
) -> None:
    problem = wire.check_secure_reply(content, stage)
    assert problem is None if why is None else (problem is not None and why in problem)
    if why is None and stage == Stage.COLLECT_MASKED_VECTORS:
        report = wire.secure_report(content)
        assert (report.party, report.n_examples, report.metrics) == ("p1", 5, {"steps": 2.0})


# ---- an in-memory Grid: the real ServerApp and ClientApp code, no processes ------------------

Tamper = Callable[[RecordDict], None]


class LocalGrid(Grid):
    """Delivers each message to the real ClientApp in this process with its node's own Context
    (as a SuperNode keeps it between messages), through protobuf both ways like the SuperLink.
    `drop[(round, node)] = stage`: from that stage on the node answers with an error (the
    SuperLink's reply for a node gone); `tamper[(round, node, stage)]` edits a reply."""

    def __init__(self, parties: dict[str, Path], state_dir: Path) -> None:
        from cotune.federated.flower_client import app

        self.app = app
        self.nodes = {
            1000 + i: Context(
                run_id=1,
                node_id=1000 + i,
                node_config={"data-path": str(path), "party": name, "state-dir": str(state_dir)},
                state=RecordDict(),
                run_config={},
            )
            for i, (name, path) in enumerate(sorted(parties.items()), start=1)
        }
        self.drop: dict[tuple[int, int], str] = {}
        self.tamper: dict[tuple[int, int, str], Tamper] = {}

    def node(self, party: str) -> int:
        return next(n for n, c in self.nodes.items() if c.node_config["party"] == party)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.nodes)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        replies = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = uuid.uuid4().hex  # as the SuperLink does
            delivered = message_from_proto(message_to_proto(msg))
            node, server_round = msg.metadata.dst_node_id, int(msg.metadata.group_id)
            stage = str(msg.content[RECORD_KEY_CONFIGS][Key.STAGE])
            order = [Stage.SETUP, Stage.SHARE_KEYS, Stage.COLLECT_MASKED_VECTORS, Stage.UNMASK]
            gone = self.drop.get((server_round, node))
            if gone is not None and order.index(stage) >= order.index(gone):
                replies.append(Message(Error(5, "node unavailable (test)"), reply_to=delivered))
                continue
            reply = self.app(delivered, self.nodes[node])
            edit = self.tamper.get((server_round, node, stage))
            if edit is not None:
                edit(reply.content)
            replies.append(message_from_proto(message_to_proto(reply)))
        return replies

    # not used by the ServerApp
    def set_run(self, run: Run) -> None:
        raise NotImplementedError

    @property
    def run(self) -> Run:
        raise NotImplementedError

    def create_message(self, *args: Any, **kwargs: Any) -> Message:
        raise NotImplementedError

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        raise NotImplementedError

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        raise NotImplementedError


@pytest.fixture
def server_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What Flower sets in a ServerApp process before it creates messages."""
    from flwr.supercore.task_identity import TaskIdentity

    for attr, value in (("_run_id", 1), ("_node_id", 0), ("_task_id", 1)):
        monkeypatch.setattr(TaskIdentity, attr, value)


def expected_final(
    cfg: FederatedConfig, history: list[dict[str, Any]], sent: Path
) -> tuple[Arrays, Arrays, float]:
    """(initial weights, the weights FedAvg of the accepted parties' real updates gives, the
    summed per-round quantisation bound the server recorded)."""
    from cotune.data import load_splits
    from cotune.federated.server import ServerModel

    initial = ServerModel(cfg, load_splits(cfg.data)[0]).initial
    arrays, bound = dict(initial), 0.0
    for rec in history:
        if not rec["aggregated"]:
            continue
        updates = [
            Update(p, load_arrays_file(sent / p / f"round-{rec['round']:04d}.npz"), n)
            for p, n in rec["n_examples"].items()
            if p in rec["accepted"]
        ]
        arrays = apply_delta(arrays, weighted_average(updates))
        bound += rec["secagg"]["max_error"]
    return initial, arrays, bound


def assert_close(actual: Arrays, expected: Arrays, bound: float) -> float:
    worst = max(float(np.max(np.abs(actual[k] - expected[k]))) for k in expected)
    assert worst <= bound + 1e-6, (worst, bound)
    return worst


def test_secure_rounds_survive_drop_outs_and_refused_replies(
    tiny_backbone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_process: None
) -> None:
    """Round 1: all three parties. Round 2: party-1's masked-vector reply also carries an
    update in the clear: withheld (the workflow counts party-1 as dropped). Round 3: party-3
    vanishes after sharing its keys, before its masked vector. Round 4: party-2 vanishes after
    its masked vector, before unmasking. Every round yields the exact weighted mean of the
    updates that are in the sum."""
    from cotune.federated.flower_server import run_federation
    from cotune.federated.parties import write_examples

    sent = tmp_path / "sent"
    monkeypatch.setenv(KEEP_SENT, str(sent))
    cfg = fed_config(
        tiny_backbone, tmp_path, method="lora", rounds=4, min_clients=2, secure_aggregation={}
    )
    sizes = {"party-1": 6, "party-2": 8, "party-3": 10}
    files = {
        p: write_examples(tmp_path / "data" / p, sentiment(n, seed=i))
        for i, (p, n) in enumerate(sizes.items(), start=1)
    }
    grid = LocalGrid(files, tmp_path / "node-state")

    def leak(content: RecordDict) -> None:
        content[wire.ARRAYS] = to_record({"w": np.ones(3, np.float32)})

    grid.tamper[(2, grid.node("party-1"), Stage.COLLECT_MASKED_VECTORS)] = leak
    grid.drop[(3, grid.node("party-3"))] = Stage.COLLECT_MASKED_VECTORS
    grid.drop[(4, grid.node("party-2"))] = Stage.UNMASK
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_federation(grid, cfg, run_dir, resume=False)

    state = ServerState.load(run_dir / "server")
    h = state.history
    everyone = sorted(sizes)
    assert [sorted(r["accepted"]) for r in h] == [
        everyone,
        ["party-2", "party-3"],
        ["party-1", "party-2"],
        everyone,  # party-2's vector was in the sum: its private mask rebuilt from shares
    ]
    assert all(r["aggregated"] and r["secure_aggregation"] and r["secagg"]["completed"] for r in h)
    assert [f["party"] for f in h[1]["failed"]] == ["party-1"]
    assert "malformed reply" in h[1]["failed"][0]["reason"]
    assert [f["party"] for f in h[2]["failed"]] == ["party-3"]
    assert Stage.COLLECT_MASKED_VECTORS in h[2]["failed"][0]["reason"]
    assert h[3]["failed"] == [] and Stage.UNMASK in h[3]["secagg"]["dropped"]["party-2"]
    assert all(r["update_norms"] == {} and r["clip_scales"] == {} for r in h)
    # max_weight: Flower's default before any count is known, then the largest party's count
    assert [r["secagg"]["max_weight"] for r in h] == [FIRST_MAX_WEIGHT] + [10.0] * 3

    initial, expected, bound = expected_final(cfg, h, sent)
    moved = max(float(np.max(np.abs(expected[k] - initial[k]))) for k in expected)
    assert moved > 5 * bound  # the tolerance is well below what training moved
    worst = assert_close(state.arrays, expected, bound)
    print(f"secure rounds in-process: error {worst:.2e} <= bound {bound:.2e}; moved {moved:.2e}")

    audit = [json.loads(x) for x in (run_dir / "messages.jsonl").read_text().splitlines()]
    refused = [a for a in audit if a["problem"]]
    assert [(a["round"], a["party"], a["stage"]) for a in refused] == [
        (2, "party-1", Stage.COLLECT_MASKED_VECTORS)
    ]
    ledger = json.loads((run_dir / "ledger.json").read_text())
    assert ledger["contributions"]["available"] is False
    assert "secure aggregation" in ledger["contributions"]["reason"]
    rows = {r["party"]: r for r in ledger["parties"]}
    assert {p: r["examples"] for p, r in rows.items()} == sizes
    assert {p: r["rounds_joined"] for p, r in rows.items()} == {
        "party-1": 3,
        "party-2": 4,
        "party-3": 3,
    }
    assert all("shapley" not in r for r in rows.values())
    assert "secure aggregation" in (run_dir / "ledger.md").read_text()
    assert json.loads((run_dir / "result.json").read_text())["secure_aggregation"] is True


def test_shipped_secagg_config_runs_a_round(
    tiny_backbone: Path, tmp_path: Path, server_process: None
) -> None:
    """Every shipped config runs on the tiny model: this one for one secure round of 3 parties
    through the in-memory Grid."""
    from cotune.data import load_splits
    from cotune.federated.flower_server import run_federation
    from cotune.federated.parties import partition, write_parties

    overrides = {
        "model.backbone": str(tiny_backbone),
        "data.limit": 15,
        "train.max_steps": 1,
        "train.batch_size": 4,
        "output_dir": str(tmp_path),
        "federation.rounds": 1,
    }
    try:
        cfg = load_federated_config(CONFIG, overrides)
        splits, _ = load_splits(cfg.data)
    except Exception as e:  # the catalog's package missing on this machine
        pytest.skip(f"wnut16 not available: {e}")
    parts = partition(splits.train, 3, cfg.federation.partition)
    files = write_parties(tmp_path / "parties", splits.train, parts)
    grid = LocalGrid({f["name"]: Path(f["path"]) for f in files}, tmp_path / "node-state")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_federation(grid, cfg, run_dir, resume=False)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["rounds"] == 1 and result["secure_aggregation"] and result["test"]
    history = ServerState.load(run_dir / "server").history
    assert history[0]["aggregated"] and len(history[0]["accepted"]) == 3


# ---- a real SuperLink and SuperNodes on loopback -------------------------------------------


@pytest.mark.timeout(480)
def test_secure_rounds_over_a_real_superlink_give_the_weighted_mean_and_nothing_else(
    tiny_backbone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cotune.federated import deploy, launch
    from cotune.federated.parties import write_examples

    sent = tmp_path / "sent"
    monkeypatch.setenv(KEEP_SENT, str(sent))  # the SuperNodes' ClientApps inherit it
    cfg = fed_config(
        tiny_backbone,
        tmp_path,
        method="lora",
        rounds=2,
        min_clients=3,
        round_timeout=120,
        name="secure",
        secure_aggregation={"max_weight": 10},
    )
    cfg, run_dir, config_path = deploy.prepare_run(cfg, resume=False, overwrite=False)
    security = deploy.loopback_security(run_dir, insecure=True)  # TLS is the other test's
    sizes = {"party-1": 6, "party-2": 8, "party-3": 10}
    t0 = time.monotonic()
    with launch.Processes(run_dir / "logs") as procs:
        address = deploy.start_superlink(procs, run_dir, "127.0.0.1", launch.free_port(), security)
        home = deploy.cli_home(run_dir, address, security)
        for i, (name, n) in enumerate(sizes.items(), start=1):
            path = write_examples(tmp_path / "data" / name, sentiment(n, seed=i))
            deploy.start_client(procs, run_dir, path, name, address, security)
        app = launch.write_app(run_dir, config_path, resume=False)
        launch.submit_and_wait(procs, app, home, 360, run_dir / "result.json")
    elapsed = time.monotonic() - t0

    assert (run_dir / "result.json").exists(), (run_dir / "server.log").read_text()
    state = ServerState.load(run_dir / "server")
    h = state.history
    assert len(h) == 2 and all(sorted(r["accepted"]) == sorted(sizes) for r in h)
    assert all(r["secure_aggregation"] and r["update_norms"] == {} for r in h)
    assert h[0]["n_examples"] == sizes

    # the global model is the example-weighted FedAvg of what the parties sent, to within the
    # quantisation bound (and not the plain mean: the weights are the example counts)
    initial, expected, bound = expected_final(cfg, h, sent)
    assert 0 < bound < 1e-4
    assert_close(state.arrays, expected, bound)
    unweighted = dict(initial)
    for rec in h:
        deltas = [load_arrays_file(sent / p / f"round-{rec['round']:04d}.npz") for p in sizes]
        unweighted = apply_delta(unweighted, weighted_average([Update("x", d, 1) for d in deltas]))
    assert max(float(np.max(np.abs(state.arrays[k] - unweighted[k]))) for k in initial) > 10 * bound

    # what the server received: per party per stage only protocol values and the counters;
    # no array left a party in the clear
    audit = [json.loads(x) for x in (run_dir / "messages.jsonl").read_text().splitlines()]
    assert len(audit) == 2 * 4 * 3 and all(a["problem"] is None for a in audit)
    assert {a["stage"] for a in audit} == STAGES
    for a in audit:
        assert wire.ARRAYS not in a["records"]
        for rec in a["records"].values():
            assert rec["kind"] != "ArrayRecord" or rec["arrays"] == {}
    n_arrays = len(initial)
    n_values = sum(v.size for v in initial.values())
    for a in (a for a in audit if a["stage"] == Stage.COLLECT_MASKED_VECTORS):
        protocol = a["records"][RECORD_KEY_CONFIGS]["config"]
        assert protocol == {Key.MASKED_PARAMETERS: {"type": "list", "len": n_arrays + 1}}
        metrics = set(a["records"][f"{wire.LEGACY_OUT}.metrics"]["config"])
        assert metrics - {wire.PARTY} <= wire.REPLY_METRICS
        assert a["bytes"] >= 4 * n_values  # the masked vector: one integer per value
    for rec in h:
        assert all(b > 4 * n_values for b in rec["bytes_up"].values())

    ledger = json.loads((run_dir / "ledger.json").read_text())
    assert ledger["contributions"]["available"] is False
    assert {r["party"]: r["examples"] for r in ledger["parties"]} == sizes
    print(f"secure loopback federation: {elapsed:.1f}s, bound {bound:.2e}")
