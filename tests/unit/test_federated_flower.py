"""Flower: the wire format's checks on real Flower records, and one federation of the tiny model
over a real SuperLink + 3 SuperNodes on loopback (TLS, node authentication, client-side DP),
where a party drops out after round 1, an unregistered node is kept out, and every message the
server received is inspected."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Message,
    Metadata,
    MetricRecord,
    RecordDict,
)

from cotune.errors import ConfigError, CotuneError
from cotune.federated import messages as wire
from cotune.federated.flower_server import _read_replies
from cotune.federated.local import LocalParty
from cotune.federated.privacy import epsilon_spent
from tests.unit.helpers import flat

from .federated_helpers import fed_config, sentiment

ARR = {"w": np.zeros((2, 2), np.float32)}


def reply(**records: object) -> RecordDict:
    base: dict[str, object] = {
        wire.ARRAYS: ArrayRecord({k: Array(v) for k, v in ARR.items()}),
        wire.METRICS: MetricRecord({"num-examples": 3, "train_loss": 0.5}),
        wire.PARTY: ConfigRecord({"name": "p1"}),
    }
    base.update(records)
    return RecordDict({k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (reply(), None),
        (reply(text=ConfigRecord({"raw": "john visited paris"})), "records"),
        (
            reply(**{wire.PARTY: ConfigRecord({"name": "p1", "sentence": "john visited"})}),
            "only a name",
        ),
        (
            reply(**{wire.METRICS: MetricRecord({"num-examples": 3, "token_ids": [101, 2198]})}),
            "unexpected metric",
        ),
        (reply(**{wire.METRICS: MetricRecord({"num-examples": 2.5})}), "positive integer"),
        (reply(**{wire.ARRAYS: None}), "records"),
    ],
)
def test_replies_holding_anything_but_the_update_are_refused(
    content: RecordDict, why: str | None
) -> None:
    problem = wire.check_reply(content)
    assert problem is None if why is None else (problem is not None and why in problem)


def received(content: RecordDict, node: int, answers: str) -> Message:
    """A reply as the Grid hands it to the ServerApp (metadata set by the SuperLink)."""
    meta = Metadata(
        run_id=1,
        message_id=f"reply-{answers}",
        src_node_id=node,
        dst_node_id=0,
        reply_to_message_id=answers,
        group_id="1",
        created_at=time.time(),
        ttl=60.0,
        message_type=wire.TRAIN,
    )
    return Message(content, metadata=meta)


def test_the_server_reads_flower_replies_and_records_each_one(tmp_path: Path) -> None:
    msgs = [
        received(
            wire.reply_content({"w": np.full((2, 2), value, np.float32)}, 4, {"steps": 2.0}, name),
            node,
            f"ins-{node}",
        )
        for node, name, value in ((7, "good", 1.0), (8, "nan", np.nan))
    ]
    msgs.append(received(reply(text=ConfigRecord({"raw": "john visited paris"})), 9, "ins-9"))
    sent_to = {"ins-7": 7, "ins-8": 8, "ins-9": 9}
    updates, failures, bytes_up = _read_replies(msgs, sent_to, {}, 1, tmp_path / "messages.jsonl")
    assert [u.party for u in updates] == ["good", "nan"]  # NaN: refused later, by aggregation
    assert 16 < bytes_up["good"] < 16 + 200  # the serialised array: data + .npy header
    assert failures == [("node-9", failures[0][1])] and "malformed reply" in failures[0][1]
    audit = [json.loads(line) for line in (tmp_path / "messages.jsonl").read_text().splitlines()]
    assert [a["party"] for a in audit] == ["good", "nan", "node-9"] and audit[2]["problem"]
    assert audit[0]["records"]["arrays"]["arrays"]["w"] == {
        "dtype": "float32",
        "shape": [2, 2],
        "bytes": audit[0]["records"]["arrays"]["arrays"]["w"]["bytes"],
    }


def _wait_for(path: Path, pred, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                if pred(json.loads(path.read_text())):
                    return
            except json.JSONDecodeError:
                pass
        time.sleep(0.5)
    raise AssertionError(f"{path} did not reach the expected state in {timeout}s")


@pytest.mark.timeout(420)
def test_three_parties_over_a_real_superlink_with_a_drop_out(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    from cotune.federated import deploy, launch
    from cotune.federated.auth import node_keypair
    from cotune.federated.parties import write_examples

    cfg = fed_config(
        tiny_backbone,
        tmp_path,
        method="lora",
        rounds=2,
        min_clients=2,
        round_timeout=120,
        name="fed",
        privacy={"clip_norm": 1.0, "noise_multiplier": 1.0, "delta": 1e-5},
    )
    cfg, run_dir, config_path = deploy.prepare_run(cfg, resume=False, overwrite=False)
    security = deploy.loopback_security(run_dir, insecure=False)  # TLS + node authentication
    assert security.node_auth and not security.insecure
    data = {
        f"party-{i}": write_examples(tmp_path / "data" / f"party-{i}", sentiment(8, seed=i))
        for i in (1, 2, 3)
    }
    intruder_key, _ = node_keypair(tmp_path / "intruder", "intruder")  # never registered
    t0 = time.monotonic()
    with launch.Processes(run_dir / "logs") as procs, ThreadPoolExecutor(1) as pool:
        address = deploy.start_superlink(procs, run_dir, "127.0.0.1", launch.free_port(), security)
        home = deploy.cli_home(run_dir, address, security)
        keys = deploy.authorize_parties(procs, home, run_dir, list(data), security)
        for name, path in data.items():
            deploy.start_client(procs, run_dir, path, name, address, security, auth_key=keys[name])
        deploy.start_client(
            procs, run_dir, data["party-1"], "intruder", address, security, auth_key=intruder_key
        )
        app = launch.write_app(run_dir, config_path, resume=False)
        run = pool.submit(launch.submit_and_wait, procs, app, home, 240, run_dir / "result.json")
        _wait_for(run_dir / "server" / "state.json", lambda s: s["round"] >= 1, 180)
        procs.stop("party-3")  # party 3 leaves the federation after round 1
        run.result()
        assert procs.running["intruder"].poll() not in (None, 0)  # refused, and gave up
    elapsed = time.monotonic() - t0

    result = json.loads((run_dir / "result.json").read_text())
    history = json.loads((run_dir / "server" / "state.json").read_text())["history"]
    assert result["rounds"] == 2, (run_dir / "server.log").read_text()
    assert sorted(history[0]["accepted"]) == ["party-1", "party-2", "party-3"]
    # the intruder's key was never registered: the SuperLink never admitted it
    assert sorted(history[0]["sampled"]) == ["party-1", "party-2", "party-3"]
    assert history[1]["aggregated"] and sorted(history[1]["accepted"]) == ["party-1", "party-2"]
    # party 3 was gone: an error reply from the SuperLink, or not sampled at all
    assert [f["party"] for f in history[1]["failed"]] in (["party-3"], [])
    names = set(LocalParty(cfg, sentiment(2, seed=0), ["neg", "pos"], name="x").tm.arrays())
    # only trainable weights travelled: LoRA adapter + head, far below the full model
    assert result["bytes_per_update"] < result["full_model_bytes"] / 5
    wire_bytes = set(history[0]["bytes_up"].values())  # measured: data + one header a tensor
    assert len(wire_bytes) == 1
    assert 0 < wire_bytes.pop() - result["bytes_per_update"] < 200 * len(names)

    # every message the server received: float updates of the trainable weights, a few known
    # counters, and the party's name; no text, no token ids
    audit = [json.loads(x) for x in (run_dir / "messages.jsonl").read_text().splitlines()]
    assert len(audit) == 5 and all(a["problem"] is None for a in audit)
    for a in audit:
        recs = a["records"]
        assert set(recs) == {wire.ARRAYS, wire.METRICS, wire.PARTY}
        assert set(recs[wire.ARRAYS]["arrays"]) == names
        assert {v["dtype"] for v in recs[wire.ARRAYS]["arrays"].values()} == {"float32"}
        assert set(recs[wire.METRICS]["metrics"]) <= wire.REPLY_METRICS
        assert recs[wire.PARTY]["config"] == {"name": {"type": "str", "len": 7}}

    ledger = json.loads((run_dir / "ledger.json").read_text())
    rows = {r["party"]: r for r in ledger["parties"]}
    assert rows["party-3"]["rounds_joined"] == 1 and rows["party-1"]["rounds_joined"] == 2
    # each party's epsilon, accounted by the party across its ClientApp processes
    assert rows["party-1"]["epsilon"] == pytest.approx(epsilon_spent(1.0, 2, 1e-5))
    assert rows["party-3"]["epsilon"] == pytest.approx(epsilon_spent(1.0, 1, 1e-5))
    assert abs(ledger["totals"]["shapley_sum"] - ledger["totals"]["gain_over_base"]) < 1e-9
    assert (run_dir / "model" / "adapter_model.safetensors").exists()
    print(f"loopback federation: {elapsed:.1f}s")


def test_cli_refuses_plain_text_unless_asked_and_names_missing_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cotune.cli.main import app

    config = Path(__file__).resolve().parents[2] / "configs" / "federated-wnut16-lora.yaml"
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)  # where a client would keep its Flower state
    res = runner.invoke(app, ["federate", "server", str(config)])
    assert res.exit_code == 2 and "--insecure" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["federate", "client", "--data", str(tmp_path / "x.conll")])
    assert res.exit_code == 2 and "--root-certificates" in res.output
    missing = tmp_path / "x.conll"
    res = runner.invoke(app, ["federate", "client", "--data", str(missing), "--insecure"])
    assert res.exit_code == 2 and "no such data file" in flat(res.output)
    bad = tmp_path / "mine.conll"
    bad.write_text("Paris\tB-LOC\nis\tO\nnice\n")  # line 3 lost its tag
    res = runner.invoke(app, ["federate", "client", "--data", str(bad), "--insecure"])
    out = flat(res.output)
    assert res.exit_code == 2 and f"{bad}:3" in out and "a token and a tag" in out
    assert not (tmp_path / ".cotune-federate").exists()  # refused before any SuperNode started
    res = runner.invoke(app, ["federate", "simulate", str(config), "--federation.rouds", "2"])
    assert res.exit_code == 2 and "rouds" in res.output


def _processes_with(needle: str) -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if needle in cmdline.read_bytes().decode(errors="replace"):
                pids.append(int(cmdline.parent.name))
        except OSError:  # ended while we looked
            continue
    return pids


def test_a_terminated_client_takes_its_supernode_with_it(tmp_path: Path) -> None:
    from cotune.federated.launch import free_port

    data = tmp_path / "mine.conll"
    data.write_text("Paris\tB-LOC\nis\tO\n")
    needle = f'data-path="{data}"'
    cli = Path(sys.executable).parent / "cotune"
    cmd = [str(cli), "federate", "client", "--data", str(data), "--insecure"]
    cmd += ["--superlink", f"127.0.0.1:{free_port()}", "--work-dir", str(tmp_path / "w")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _processes_with(needle) and time.monotonic() < deadline:
            assert proc.poll() is None, "the client exited before starting its SuperNode"
            time.sleep(0.2)
        assert _processes_with(needle), "no SuperNode started"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 15
        while _processes_with(needle) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_with(needle) == []  # the SuperNode (and its app runner) went too
    finally:
        proc.kill()
        for pid in _processes_with(needle):
            subprocess.run(["kill", "-9", str(pid)], check=False)


def test_a_federation_refused_at_set_up_leaves_no_folder_to_block_the_rerun(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    from cotune.federated import deploy

    cfg = fed_config(tiny_backbone, tmp_path, name="fed")
    missing = cfg.data.model_copy(update={"train": tmp_path / "nowhere.jsonl"})
    cfg = cfg.model_copy(update={"data": missing})
    for _ in range(2):  # the rerun meets the same error, not 'already holds a run'
        with pytest.raises(CotuneError, match="nowhere.jsonl"):
            deploy.simulate(cfg, parties=2, insecure=True)
        assert not (tmp_path / "fed").exists()
    held = tmp_path / "fed"
    held.mkdir()
    (held / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="already holds a run"):
        deploy.simulate(cfg, parties=2, insecure=True)
    assert (held / "notes.txt").read_text(encoding="utf-8") == "mine"
