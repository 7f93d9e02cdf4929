"""The federated core as plain library code: exchange of trainable weights, FedAvg/FedProx,
update checks and clipping, client-side DP, the server's per-round record, checkpoint/resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cotune.federated.aggregate import (
    Update,
    aggregate_round,
    apply_delta,
    check_update,
    clip,
    l2_norm,
    weighted_average,
)
from cotune.federated.exchange import full_model_bytes, nbytes, trainable_arrays
from cotune.federated.inprocess import run_inprocess
from cotune.federated.local import LocalParty, proximal_loss
from cotune.federated.privacy import epsilon_spent, privatize
from cotune.federated.server import ServerModel
from cotune.federated.state import ServerState
from cotune.training.loss import task_loss

from .federated_helpers import fed_config, make_parties, sentiment, sentiment_splits

G = {"w": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32)}


def upd(party: str, value: float, n: int = 1) -> Update:
    return Update(party, {k: np.full_like(v, value) for k, v in G.items()}, n)


def test_fedavg_weights_updates_by_examples_in_any_order() -> None:
    a, b = upd("a", 1.0, n=1), upd("b", 4.0, n=3)
    avg = weighted_average([a, b])
    assert np.allclose(avg["w"], (1 * 1.0 + 3 * 4.0) / 4)
    again = weighted_average([b, a])
    assert all(np.array_equal(avg[k], again[k]) for k in avg)  # bit-identical
    new = apply_delta(G, avg)
    assert new["b"].dtype == np.float32 and np.allclose(new["b"], 3.25)


@pytest.mark.parametrize(
    ("delta", "n", "why"),
    [
        ({"w": np.full((2, 3), np.nan, np.float32), "b": np.zeros(3, np.float32)}, 1, "NaN"),
        ({"w": np.zeros((3, 2), np.float32), "b": np.zeros(3, np.float32)}, 1, "shape"),
        ({"w": np.zeros((2, 3), np.float32)}, 1, "missing"),
        ({**G, "extra": np.zeros(1, np.float32)}, 1, "unexpected"),
        ({"w": np.zeros((2, 3), np.int64), "b": np.zeros(3, np.float32)}, 1, "dtype"),
        ({"w": np.full((2, 3), 1e6, np.float32), "b": np.zeros(3, np.float32)}, 1, "norm"),
        (dict(G), 0, "num-examples"),
    ],
)
def test_bad_updates_are_named_and_rejected(delta: dict, n: int, why: str) -> None:
    expected = {k: v.shape for k, v in G.items()}
    reason = check_update(Update("evil", delta, n), expected, reject_norm=100.0)
    assert reason is not None and why in reason


def test_a_poisoned_update_is_not_averaged_in() -> None:
    poisoned = Update("evil", {"w": np.full((2, 3), np.inf, np.float32), "b": G["b"]}, 1000)
    agg = aggregate_round(
        G, [upd("a", 1.0), upd("b", 3.0), poisoned], min_clients=2, clip_norm=None, reject_norm=1e3
    )
    assert agg.aggregated and [u.party for u in agg.accepted] == ["a", "b"]
    assert agg.rejected[0].party == "evil" and "NaN or inf" in agg.rejected[0].reason
    assert np.allclose(agg.arrays["w"], 2.0)


def test_too_few_accepted_updates_leave_the_global_model() -> None:
    agg = aggregate_round(G, [upd("a", 1.0)], min_clients=2, clip_norm=None, reject_norm=None)
    assert not agg.aggregated and np.array_equal(agg.arrays["w"], G["w"])


def test_clipping_bounds_the_update_norm_and_never_scales_up() -> None:
    big = upd("a", 10.0).delta
    clipped, scale = clip(big, 1.0)
    assert math.isclose(l2_norm(clipped), 1.0, rel_tol=1e-5) and scale < 1
    small, scale = clip(upd("a", 0.01).delta, 1.0)
    assert scale == 1.0 and np.allclose(small["w"], 0.01)
    agg = aggregate_round(G, [upd("a", 10.0)], min_clients=1, clip_norm=1.0, reject_norm=None)
    assert math.isclose(l2_norm(agg.accepted[0].delta), 1.0, rel_tol=1e-5)


def test_client_dp_clips_adds_noise_and_accounts_epsilon() -> None:
    delta = upd("a", 10.0).delta
    noisy, _ = privatize(delta, 1.0, 0.0)
    assert math.isclose(l2_norm(noisy), 1.0, rel_tol=1e-5)
    big = {"w": np.zeros(20000, np.float32)}
    noisy, _ = privatize(big, 2.0, 0.5, rng=np.random.default_rng(0))
    assert math.isclose(float(np.std(noisy["w"])), 1.0, rel_tol=0.05)  # std = sigma * C
    e1, e5 = epsilon_spent(1.0, 1, 1e-5), epsilon_spent(1.0, 5, 1e-5)
    assert 0 < e1 < e5 and epsilon_spent(2.0, 5, 1e-5) < e5
    assert epsilon_spent(0.0, 1, 1e-5) == math.inf and epsilon_spent(1.0, 0, 1e-5) == 0.0


def test_proximal_term_adds_mu_half_squared_distance(tiny_backbone: Path, tmp_path: Path) -> None:
    cfg = fed_config(tiny_backbone, tmp_path)
    model = ServerModel(cfg, sentiment_splits())
    m = model.tm.model
    anchor = {n: p.detach().clone() for n, p in m.named_parameters() if p.requires_grad}
    first = next(iter(anchor))
    anchor[first] = anchor[first] + 0.5  # the global weights sit 0.5 away on one tensor
    feats = model.tm.task.encode(sentiment(4, seed=1))
    batch = model.tm.task.collate(feats)
    m.eval()
    with torch.no_grad():
        plain = task_loss(m, batch)
        prox = proximal_loss(m, anchor, mu=0.2)(m, batch)
    dist = 0.25 * anchor[first].numel()
    assert math.isclose(float(prox - plain), 4 * 0.1 * dist, rel_tol=1e-4)  # units x mu/2 x d


def test_lora_party_sends_only_adapter_and_head(tiny_backbone: Path, tmp_path: Path) -> None:
    cfg = fed_config(tiny_backbone, tmp_path, method="lora")
    model = ServerModel(cfg, sentiment_splits())
    party = LocalParty(cfg, sentiment(8, seed=3), model.labels, name="p")
    res = party.train_round(model.initial)
    names = set(res.delta)
    assert names == set(trainable_arrays(model.tm.model))
    assert all("lora_" in n or "classifier" in n for n in names)
    assert nbytes(res.delta) < full_model_bytes(model.tm.model) / 5
    assert res.metrics["steps"] == 2 and res.metrics["flops"] > 0 and res.metrics["cpu_seconds"] > 0
    assert l2_norm(res.delta) > 0


def test_rounds_record_dev_metric_bytes_and_failures(tiny_backbone: Path, tmp_path: Path) -> None:
    cfg = fed_config(tiny_backbone, tmp_path, rounds=2, min_clients=2)
    model = ServerModel(cfg, sentiment_splits())
    parties = make_parties(cfg, model, {f"p{i}": sentiment(8, seed=i) for i in range(3)})

    def tamper(name: str, rnd: int, u: Update) -> Update | None:
        if name == "p1" and rnd == 2:
            return None  # p1 drops out in the middle of round 2
        if name == "p2":
            return Update(name, {k: v * np.nan for k, v in u.delta.items()}, u.n_examples)
        return u

    result = run_inprocess(model, parties, tmp_path / "run", tamper=tamper)
    state = ServerState.load(tmp_path / "run" / "server")
    r1, r2 = state.history
    assert r1["accepted"] == ["p0", "p1"] and r1["rejected"][0]["party"] == "p2"
    assert r1["aggregated"] and not r2["aggregated"]  # only p0 left in round 2 < min_clients 2
    assert r2["failed"] == [{"party": "p1", "reason": "dropped out"}]
    assert len(result["dev_per_round"]) == 2 and all(0 <= d <= 1 for d in result["dev_per_round"])
    assert r1["bytes_up"]["p0"] == nbytes(model.initial) == r1["bytes_down_per_party"]
    assert all(np.isfinite(v).all() for v in state.arrays.values())
    ledger = json.loads((tmp_path / "run" / "ledger.json").read_text())
    rows = {r["party"]: r for r in ledger["parties"]}
    assert rows["p2"]["updates_rejected"] == 2 and rows["p2"]["rounds_joined"] == 0
    assert rows["p0"]["rounds_joined"] == 1  # round 2 was not aggregated


def test_server_resumes_after_a_crash_exactly(tiny_backbone: Path, tmp_path: Path) -> None:
    cfg = fed_config(tiny_backbone, tmp_path, rounds=3)
    data = {f"p{i}": sentiment(8, seed=i) for i in range(2)}
    model = ServerModel(cfg, sentiment_splits())
    ref = run_inprocess(model, make_parties(cfg, model, data), tmp_path / "ref")

    crashed = ServerModel(cfg, sentiment_splits())
    assert (
        run_inprocess(crashed, make_parties(cfg, crashed, data), tmp_path / "b", stop_after=1) == {}
    )
    assert ServerState.load(tmp_path / "b" / "server").round == 1
    fresh = ServerModel(cfg, sentiment_splits())  # a new server process
    resumed = run_inprocess(fresh, make_parties(cfg, fresh, data), tmp_path / "b", resume=True)
    assert resumed["dev_per_round"] == ref["dev_per_round"]
    a = ServerState.load(tmp_path / "ref" / "server").arrays
    b = ServerState.load(tmp_path / "b" / "server").arrays
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_federated_model_is_an_ordinary_artifact(tiny_backbone: Path, tmp_path: Path) -> None:
    from cotune.artifact import load_artifact

    cfg = fed_config(tiny_backbone, tmp_path, method="lora", rounds=1)
    model = ServerModel(cfg, sentiment_splits())
    parties = make_parties(cfg, model, {"a": sentiment(8, seed=1), "b": sentiment(8, seed=2)})
    result = run_inprocess(model, parties, tmp_path / "run")
    predictor = load_artifact(result["model"])
    assert predictor.meta.method["name"] == "lora"
    assert result["bytes_per_update"] < result["full_model_bytes"]
    assert len(predictor.predict_text(["a great film", "bad movie"])) == 2
    metrics = json.loads((Path(result["model"]) / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] == result["test"]["accuracy"]
