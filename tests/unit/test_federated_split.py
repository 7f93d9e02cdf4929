"""Parties and configs: IID and Dirichlet-skewed partitions, party files, the federated config
schema, and the shipped federated config run for a round on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotune.config.schema import DataConfig
from cotune.data.examples import TokenExample
from cotune.data.load import read_labelled
from cotune.errors import ConfigError
from cotune.federated.config import (
    FederatedConfig,
    PartitionOptions,
    is_federated_config,
    load_federated_config,
)
from cotune.federated.parties import partition, partition_stats, skew_label, write_parties

from .federated_helpers import sentiment

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "federated-wnut16-lora.yaml"


def labelled(n: int) -> list:
    """n examples over 4 labels, 25% each."""
    out = sentiment(n, seed=0)
    return [type(ex)(ex.text, [f"L{i % 4}"], ex.origin) for i, ex in enumerate(out)]


def test_iid_partition_is_balanced_disjoint_complete_and_seeded() -> None:
    ex = labelled(103)
    parts = partition(ex, 4, PartitionOptions(scheme="iid"))
    flat = sorted(i for p in parts for i in p)
    assert flat == list(range(103)) and {len(p) for p in parts} <= {25, 26}
    assert parts == partition(ex, 4, PartitionOptions(scheme="iid"))
    assert parts != partition(ex, 4, PartitionOptions(scheme="iid", seed=1))


def _skew(ex: list, parts: list[list[int]]) -> float:
    """Mean share of each party's most common label (0.25 = perfectly mixed here)."""
    stats = partition_stats(ex, parts)
    return sum(max(s["labels"].values()) / s["examples"] for s in stats) / len(stats)


def test_dirichlet_partition_skews_labels_more_as_alpha_shrinks() -> None:
    ex = labelled(400)
    iid = partition(ex, 4, PartitionOptions(scheme="iid"))
    skewed = partition(ex, 4, PartitionOptions(scheme="dirichlet", alpha=0.1, min_examples=5))
    mild = partition(ex, 4, PartitionOptions(scheme="dirichlet", alpha=100.0))
    assert sorted(i for p in skewed for i in p) == list(range(400))
    assert min(len(p) for p in skewed) >= 5
    assert _skew(ex, skewed) > 0.6 > _skew(ex, mild) and _skew(ex, iid) < 0.35


def test_ner_sentences_are_grouped_by_their_main_entity_type() -> None:
    ex = TokenExample(
        ["john", "and", "mary", "in", "paris"], ["B-person", "O", "B-person", "O", "B-geo"]
    )
    assert skew_label(ex) == "person"
    assert skew_label(TokenExample(["hi"], ["O"])) == "O"


def test_too_little_data_for_the_parties_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="federation.parties"):
        partition(labelled(5), 4, PartitionOptions(min_examples=2))


@pytest.mark.parametrize("kind", ["tokens", "text"])
def test_party_files_read_back_as_the_same_examples(tmp_path: Path, kind: str) -> None:
    if kind == "tokens":
        ex = [
            TokenExample(["john", "visited", "new", "york"], ["B-person", "O", "B-loc", "I-loc"]),
            TokenExample(["hello"], ["O"]),
        ]
    else:
        ex = sentiment(4, seed=1)
    files = write_parties(tmp_path, ex, [[0], [1]])
    assert [f["name"] for f in files] == ["party-1", "party-2"]
    back = read_labelled(Path(files[0]["path"]), DataConfig(train=Path(files[0]["path"])))
    if kind == "tokens":
        assert (back[0].tokens, back[0].tags) == (ex[0].tokens, ex[0].tags)
    else:
        assert (back[0].text, back[0].labels) == (ex[0].text, ex[0].labels)


def test_federated_config_schema_and_errors(tmp_path: Path) -> None:
    cfg = load_federated_config(CONFIG)
    assert cfg.method.name == "lora" and cfg.federation.rounds >= 1
    assert cfg.local_train().epochs == cfg.federation.local_epochs
    assert is_federated_config(CONFIG)
    assert not is_federated_config(CONFIG.parent / "wnut16-ner.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.read_text().replace("min_clients: 2", "min_clients: 2\n  rouds: 3"))
    with pytest.raises(ConfigError, match="rouds"):
        load_federated_config(bad)
    with pytest.raises(ConfigError, match="min_clients"):
        load_federated_config(CONFIG, {"federation.clients_per_round": 1})


def test_shipped_federated_config_runs_a_round(tiny_backbone: Path, tmp_path: Path) -> None:
    """Every shipped config runs on the tiny model: this one for one in-process round."""
    from cotune.data import load_splits
    from cotune.federated.inprocess import run_inprocess
    from cotune.federated.local import LocalParty
    from cotune.federated.server import ServerModel

    overrides = {
        "model.backbone": str(tiny_backbone),
        "data.limit": 12,
        "train.max_steps": 1,
        "train.batch_size": 4,
        "output_dir": str(tmp_path),
        "federation.rounds": 1,
        "federation.parties": 2,
    }
    try:
        cfg: FederatedConfig = load_federated_config(CONFIG, overrides)
        splits, _ = load_splits(cfg.data)
    except Exception as e:  # the catalog's package missing on this machine
        pytest.skip(f"wnut16 not available: {e}")
    parts = partition(splits.train, 2, cfg.federation.partition)
    model = ServerModel(cfg, splits)
    parties = {
        f"p{i}": LocalParty(cfg, [splits.train[j] for j in idx], model.labels, name=f"p{i}")
        for i, idx in enumerate(parts)
    }
    result = run_inprocess(model, parties, tmp_path / "run")
    assert result["rounds"] == 1 and result["test"]
    ledger = json.loads((tmp_path / "run" / "ledger.json").read_text())
    assert [r["party"] for r in ledger["parties"]] == ["p0", "p1"]
